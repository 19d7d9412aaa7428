/* Helpers shared by the test files: running the rnnck tool, temp dirs,
 * fixture paths, reading files. */
#ifndef RNNCK_TESTUTIL_H
#define RNNCK_TESTUTIL_H

#include <stddef.h>

#include "rnnck.h"

typedef struct tool_result {
    int exit_code; /* -1 if the process did not exit normally (crash) */
    char *out;     /* captured stdout, NUL-terminated (free with tool_result_free) */
    char *err;     /* captured stderr */
} tool_result;

/* Runs $RNNCK_TOOL with the given arguments (NULL-terminated). */
tool_result run_tool(const char *arg0, ...);
/* Same with an argv array (NULL-terminated), not including the program. */
tool_result run_tool_argv(const char *const *args);
void tool_result_free(tool_result *r);

/* A per-test temporary directory: Criterion fixtures for
 * TestSuite/Test(.init = test_dir_setup, .fini = test_dir_teardown). */
extern char *test_dir;
void test_dir_setup(void);
void test_dir_teardown(void);

/* A fresh temporary directory (removed by tmpdir_remove). */
char *tmpdir_new(void);
void tmpdir_remove(char *dir);
/* malloc'd "dir/name". */
char *path_join(const char *dir, const char *name);
/* malloc'd path of a file under $RNNCK_FIXTURES. */
char *fixture_path(const char *rel);
/* Whole file into a malloc'd buffer; NULL if unreadable. */
unsigned char *read_file(const char *path, size_t *len);
int write_file(const char *path, const void *data, size_t len);
/* Kills the calling test's worker with SIGALRM (Criterion reports a crash)
 * if it is still running after `seconds`. Used instead of Criterion's
 * `.timeout`: Criterion 2.4.1's runner leaks a 48-byte record when timed
 * tests run side by side (--jobs 2), which LeakSanitizer then reports. */
void test_deadline(unsigned seconds);
/* Number of lines in s (counting a final line without '\n'). */
size_t count_lines(const char *s);
/* The first field (by name) in which two module descriptions differ, names
 * aside; doubles compared bit for bit; NULL when they are the same. Field by
 * field: the struct has padding, which memcmp would compare too. */
const char *module_info_difference(const rnnck_module_info *a, const rnnck_module_info *b);
/* Asserts that two checkpoints (any formats rnnck_open reads) hold the same
 * tensor names, each with the same dtype and the same bytes. */
void require_same_tensors(const char *a_path, const char *b_path);

#endif
