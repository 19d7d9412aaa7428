/* Private to the HDF5 schema code (lib/h5/): the only header
 * that includes hdf5.h. Not installed, not used by formats/ or tools/. */
#ifndef RNNCK_H5_INTERNAL_H
#define RNNCK_H5_INTERNAL_H

#include "core/internal.h"

#include <hdf5.h>
#include <sys/stat.h>

/* Bounds on the walk of an untrusted file (beyond rnnck_limits). */
#define RNNCK__H5_MAX_DEPTH 32    /* group nesting */
#define RNNCK__H5_MAX_NAME 256    /* bytes in one link name */
#define RNNCK__H5_MAX_STRING 4096 /* bytes in a string attribute */
#define RNNCK__H5_MAX_ACT (2 * RNNCK_ACT_SLOTS)

/* The report of rnnck_check_file: one malloc'd line per problem. */
struct rnnck_report {
    char **items;
    size_t count, cap;
};
/* Appends a copy of line, every control character turned into '?' (a
 * report item is one line). RNNCK_E_NOMEM on allocation failure. */
rnnck_status rnnck__report_add(rnnck_report *r, const char *line);

/* An open file being read, and how problems are handled: with report == NULL
 * the first problem stops the walk (rnnck_load); otherwise every problem is
 * appended to report and the walk goes on (rnnck_check_file). */
typedef struct rnnck__h5_file {
    const char *path; /* as given by the caller: names the file in messages */
    hid_t fid;
    int64_t file_size;
    rnnck_limits lim;
    rnnck_report *report;
} rnnck__h5_file;

/* ---- compressed chunks (lib/h5/h5_chunks.c) ---- */
/* Checks that every deflated chunk of ds inflates to at most chunk_bytes
 * (its declared size) before libhdf5 inflates any: RNNCK_E_FORMAT naming the
 * chunk otherwise. A no-op for datasets without the deflate filter. */
rnnck_status rnnck__h5_check_chunks(const rnnck__h5_file *f, hid_t ds, const char *object, size_t chunk_bytes);

/* Turns off libhdf5's printing of its error stack (we translate failures). */
void rnnck__h5_silence(void);
/* H5Fcreate of the empty temporary file tmp_path (rnnck__atomic_begin's),
 * removed and created anew rather than truncated (h5_file.c); < 0 on failure. */
hid_t rnnck__h5_create_fresh(const char *tmp_path, hid_t fcpl, hid_t fapl);
/* The process-wide lock held by every entry point that touches libhdf5
 * (h5_lock.c): rnnck_load, rnnck_save, rnnck_check_file, lazy reads and the
 * closing of an HDF5 source. Recursive. */
void rnnck__h5_lock(void);
void rnnck__h5_unlock(void);

/* Sets the thread's message to "<file>: <object>: <text>" and returns st. */
rnnck_status rnnck__h5_fail(const rnnck__h5_file *f, rnnck_status st, const char *object, const char *fmt, ...)
    RNNCK_PRINTF(4, 5);

/* Called after a check failed with status st (message already set). In load
 * mode returns st; in check mode records the message and returns RNNCK_OK so
 * the walk continues. Allocation failures always stop the walk. */
rnnck_status rnnck__h5_problem(rnnck__h5_file *f, rnnck_status st);

/* Opens path read-only after checking it is a non-empty regular file with the
 * HDF5 signature. E_IO when it cannot be read, E_FORMAT when not HDF5. */
rnnck_status rnnck__h5_open(const char *path, const rnnck_limits *lim, rnnck__h5_file *f);
void rnnck__h5_close(rnnck__h5_file *f);

/* ---- attributes (lib/h5/h5_attr.c). Each sets *present to false and succeeds
 * when the attribute does not exist; a present attribute of the wrong class,
 * shape or size is RNNCK_E_FORMAT naming object and attribute. ---- */
rnnck_status rnnck__h5_attr_string(const rnnck__h5_file *f, hid_t obj, const char *object, const char *name, char *buf,
                                   size_t bufsize, bool *present);
/* Any integer class (or an enum over an integer, as h5py writes bool). */
rnnck_status rnnck__h5_attr_int(const rnnck__h5_file *f, hid_t obj, const char *object, const char *name,
                                int64_t *value, bool *present);
/* A float (or integer) scalar. */
rnnck_status rnnck__h5_attr_double(const rnnck__h5_file *f, hid_t obj, const char *object, const char *name,
                                   double *value, bool *present);
/* A 1-d float (or integer) array of at most max elements. */
rnnck_status rnnck__h5_attr_doubles(const rnnck__h5_file *f, hid_t obj, const char *object, const char *name,
                                    double *values, size_t max, size_t *count, bool *present);

rnnck_status rnnck__h5_write_attr_string(hid_t obj, const char *name, const char *value);
rnnck_status rnnck__h5_write_attr_i64(hid_t obj, const char *name, int64_t value);
rnnck_status rnnck__h5_write_attr_i8(hid_t obj, const char *name, int value);
rnnck_status rnnck__h5_write_attr_f64(hid_t obj, const char *name, double value);
rnnck_status rnnck__h5_write_attr_f64s(hid_t obj, const char *name, const double *values, size_t count);

/* ---- datasets (lib/h5/h5_dataset.c) ---- */
typedef struct rnnck__h5_dsinfo {
    rnnck_dtype dtype;
    int ndim;
    int64_t shape[RNNCK_MAX_DIMS];
    bool chunked; /* reading walks libhdf5's chunk index: done in a child */
    int layout;   /* RNNCK__H5_CONTIGUOUS, _COMPACT or _CHUNKED */
    uint64_t offset;  /* contiguous: where the data starts in the file */
    bool big_endian;  /* the data's byte order in the file */
} rnnck__h5_dsinfo;
/* Storage layouts as the isolated reader describes them (h5_remote.c). */
enum { RNNCK__H5_CONTIGUOUS = 0, RNNCK__H5_COMPACT = 1, RNNCK__H5_CHUNKED = 2 };

/* Validates a dataset's metadata without reading its data: datatype, rank,
 * dimensions against the limits, layout, filters, external storage, and the
 * stored size of contiguous/compact data against shape x dtype. */
rnnck_status rnnck__h5_inspect_dataset(const rnnck__h5_file *f, hid_t ds, const char *object, rnnck__h5_dsinfo *out);
/* New HDF5 types (caller closes) for a dtype: in memory (native order) and in
 * the file (little-endian). bfloat16 is uint16, bool is uint8. */
hid_t rnnck__h5_mem_type(rnnck_dtype dtype);
hid_t rnnck__h5_file_type(rnnck_dtype dtype);

/* ---- recurrent-module attributes (lib/h5/h5_module.c) ---- */
/* Reads and validates the description carried by group `object`. Every
 * problem goes through rnnck__h5_problem; *ok tells whether the description
 * is usable. info->name = module_name (borrowed), info->dtype = RNNCK_F32. */
rnnck_status rnnck__h5_read_module(rnnck__h5_file *f, hid_t group, const char *object, const char *module_name,
                                   rnnck_module_info *info, bool *ok);
rnnck_status rnnck__h5_write_module(hid_t group, const rnnck_module_info *info);
/* The schema minor version the module needs: 2 when it uses what 1.2 added
 * (cell_clip, proj_clip), 1 for what 1.1 added, else 0. The file states the
 * largest over its modules ("1.0", "1.1", "1.2"). */
int rnnck__h5_module_minor(const rnnck_module_info *info);

/* ---- the lazy source (lib/h5/h5_source.c) ---- */
/* Where a model's tensor data comes from. A local source holds the file
 * open in libhdf5 (trusted opens, and the helper's own walks); its chunked
 * datasets are read through a helper session unless the source is trusted.
 * A remote source (an untrusted open, rebuilt from the helper's description
 * by h5_remote.c) never calls libhdf5: contiguous data is read from the
 * file descriptor at the offset the walk checked, compact and chunked data
 * through one helper session per source. */
typedef struct rnnck__h5_source rnnck__h5_source;
rnnck_status rnnck__h5_source_new(const char *path, rnnck__h5_source **out);
/* A remote source over fd (owned from now on, closed with the source). */
rnnck_status rnnck__h5_source_new_remote(const char *path, int fd, rnnck__h5_source **out);
/* The file record inside the source (open it with rnnck__h5_open). */
rnnck__h5_file *rnnck__h5_source_file(rnnck__h5_source *s);
/* Gives the source to the model, which closes it when freed. */
void rnnck__h5_source_attach(rnnck_model *m, rnnck__h5_source *s);
/* Closes the file and frees the source (the model's close callback). */
void rnnck__h5_source_close(void *source);
/* Records the HDF5 path and storage of a new tensor; *key becomes its
 * source_key. */
rnnck_status rnnck__h5_source_add(rnnck__h5_source *s, const char *object, const rnnck__h5_dsinfo *info,
                                  int64_t *key);
void rnnck__h5_source_drop_last(rnnck__h5_source *s);
/* The path and storage recorded under key (NULL if there is none). */
const char *rnnck__h5_source_entry(const rnnck__h5_source *s, int64_t key, rnnck__h5_dsinfo *info);
/* With trusted, chunked datasets are read in this process too. */
void rnnck__h5_source_trust(rnnck__h5_source *s, bool trusted);
/* Helper sessions this source has started so far (for tests). */
unsigned rnnck__h5_source_sessions(const rnnck_model *m);

/* ---- the helper's description of an rnnck file (lib/h5/h5_remote.c) ----
 * Report lines, one per module then one per tensor, in the model's order:
 *   M NAME CELL INPUT HIDDEN LAYERS PROJ BIAS BIDIR BATCH_FIRST DTYPE LBR
 *     FORGET_BIAS PEEPHOLES CLIP INPUT_FORGET REVERSE OUTPUT_REVERSED MERGE
 *     then 2 x RNNCK_ACT_SLOTS x (KIND ALPHA BETA)
 *   T NAME OBJECT DTYPE LAYOUT OFFSET BIG_ENDIAN NDIM D0 .. D(NDIM-1)
 * (h5_text.c: strings hex, doubles %a). */
rnnck_status rnnck__h5_describe(const rnnck_model *m, const rnnck__h5_source *src, rnnck_report *lines);
/* Builds the lazily loaded model of an untrusted file from those lines,
 * checking every field again (limits, offsets against file_size, module
 * descriptions and their parameters). fd is the file, opened before the
 * walk; the model owns it from the call on, even on failure. */
rnnck_status rnnck__h5_rebuild(const char *path, const rnnck_limits *lim, int fd, int64_t file_size,
                               const rnnck_report *lines, rnnck_model **out);

/* ---- report-line fields (lib/h5/h5_text.c) ---- */
/* n bytes of s as hex ("-" when n is 0); malloc'd, NULL on OOM. */
char *rnnck__h5_hex(const char *s, size_t n);
/* Each parses the field at *p (ending at a space or the string's end) and
 * moves *p past it; false if malformed (or, for unhex, out of memory). */
bool rnnck__h5_unhex(const char **p, char **out, size_t *len);
bool rnnck__h5_next_ll(const char **p, long long *v);
bool rnnck__h5_next_double(const char **p, double *v);

/* ---- walking groups (lib/h5/h5_walk.c, lib/h5/h5_module_group.c) ---- */
typedef struct rnnck__h5_link {
    char *name;
    H5L_type_t type; /* from the link itself, before anything is followed */
} rnnck__h5_link;

typedef struct rnnck__h5_links {
    rnnck__h5_link *items;
    size_t count, cap, limit;
    bool too_many, bad_name, nomem;
} rnnck__h5_links;

typedef struct rnnck__h5_walk {
    rnnck__h5_file *f;
    rnnck__h5_source *src;
    rnnck_model *m;
    haddr_t *groups; /* set of visited group addresses: hard-link cycles */
    size_t ngroups, groups_cap;
    int64_t objects, object_limit;
    bool stopped; /* check mode: a limit was hit, walk no further */
} rnnck__h5_walk;

/* All return non-OK only when the walk must stop (load mode: any problem;
 * check mode: out of memory); other problems go through rnnck__h5_problem. */
rnnck_status rnnck__h5_walk_group(rnnck__h5_walk *w, hid_t g, const char *object, const char *prefix, int depth);
rnnck_status rnnck__h5_module_group(rnnck__h5_walk *w, hid_t g, const char *object, const char *prefix, int depth);
/* Lists g's links, in creation order when tracked, else by name. */
rnnck_status rnnck__h5_list_links(rnnck__h5_walk *w, hid_t g, const char *object, rnnck__h5_links *l);
void rnnck__h5_links_free(rnnck__h5_links *l);
/* Adds a group's address to the visited set; *seen if it was there. */
rnnck_status rnnck__h5_remember_group(rnnck__h5_walk *w, haddr_t addr, bool *seen);
/* Counts one object against the limit; in check mode a hit stops the walk. */
rnnck_status rnnck__h5_count_object(rnnck__h5_walk *w, const char *object);
/* Refuses bad names and non-hard links without following them; else fills
 * *oi and sets *usable. */
rnnck_status rnnck__h5_examine_link(rnnck__h5_walk *w, hid_t g, const rnnck__h5_link *link, const char *object,
                                    H5O_info_t *oi, bool *usable);
/* Any link of a plain group: datasets become tensors, groups are walked. */
rnnck_status rnnck__h5_visit(rnnck__h5_walk *w, hid_t g, const rnnck__h5_link *link, const char *object,
                             const char *tensor, int depth);
/* Opens and validates dataset `name` of g; *ok false if refused. */
rnnck_status rnnck__h5_inspect(rnnck__h5_walk *w, hid_t g, const char *name, const char *object, rnnck__h5_dsinfo *info,
                               bool *ok);
/* Adds an unloaded tensor read on demand from `object`. */
rnnck_status rnnck__h5_add_tensor(rnnck__h5_walk *w, const char *tensor_name, const char *object,
                                  const rnnck__h5_dsinfo *info);
/* "/a/b" + "c" -> "/a/b/c"; "a.b" + "c" -> "a.b.c" (malloc'd, NULL on OOM). */
char *rnnck__h5_child_object(const char *object, const char *name);
char *rnnck__h5_child_tensor(const char *prefix, const char *name);

/* ---- the walk (lib/h5/h5_scan.c) ---- */
/* Opens path and builds a lazily loaded model of it (the model owns the open
 * file). With report == NULL any problem fails; otherwise problems go to the
 * report and only well-formed tensors enter the model. A file that is not
 * HDF5 or lacks rnnck_schema fails in both modes. */
rnnck_status rnnck__h5_scan(const char *path, const rnnck_limits *lim, rnnck_report *report, rnnck_model **out);
/* Same; with trusted, the model's chunked datasets are later read in this
 * process instead of the helper. */
rnnck_status rnnck__h5_scan_ex(const char *path, const rnnck_limits *lim, rnnck_report *report, bool trusted,
                               rnnck_model **out);
/* The helper's walk job: the walk of rnnck_load, and on success the model's
 * description (rnnck__h5_describe) appended to lines. */
rnnck_status rnnck__h5_walk_describe(const char *path, const rnnck_limits *lim, rnnck_report *lines);
/* rnnck__h5_scan in load mode that also gives the model's source (owned by
 * the model). */
rnnck_status rnnck__h5_scan_src(const char *path, const rnnck_limits *lim, rnnck_model **out,
                                rnnck__h5_source **src);
/* A clean rnnck walk of `path` by a helper during detection (the probe job),
 * remembered for the calling thread with its description (lines, owned from
 * the call on): the file's identity (device, inode, size, mtime, ctime, the
 * same before and after the helper ran) and the default limits.
 * rnnck__h5_walked(sb, limits) gives the lines back, once, when sb (the
 * fstat of the file the load opened) has that identity and the limits are
 * the defaults: the load then builds its model from them instead of
 * starting its own helper. rnnck__h5_walked_forget (core/internal.h) drops
 * what is remembered. */
void rnnck__h5_walked_note(const char *path, const struct stat *before, rnnck_report *lines);
rnnck_report *rnnck__h5_walked(const struct stat *sb, const rnnck_limits *limits);
/* True when a and b are the same file, unchanged (device, inode, size,
 * mtime, ctime). */
bool rnnck__h5_same_file(const struct stat *a, const struct stat *b);
/* Times this process opened a file with libhdf5 (rnnck__h5_open; for the
 * tests that prove untrusted opens never do). */
unsigned long long rnnck__h5_inproc_opens(void);
rnnck_status rnnck__h5_check_here(const char *path, const rnnck_limits *lim, unsigned flags, rnnck_report *report);
/* Reads dataset `object` of the open file f, numel elements of dtype, into
 * dst (h5_source.c). RNNCK_E_FORMAT if it changed or cannot be read. */
rnnck_status rnnck__h5_read_dataset(const rnnck__h5_file *f, const char *object, rnnck_dtype dtype, int64_t numel,
                                    void *dst);

/* ---- isolation (lib/h5/h5_isolate.c, lib/h5/h5_helper.c) ---- */
#define RNNCK__H5_HELPER_NAME "rnnck-h5-reader"
#define RNNCK__H5_HELPER_MAGIC "RNCKH5\x01\n" /* 8 bytes: protocol version 1 */
/* TREE: the generic walk of h5_tree.c (foreign formats); PROBE: the names
 * at the root, sent back as report lines (detection). */
typedef enum { RNNCK__H5_JOB_WALK, RNNCK__H5_JOB_CHECK, RNNCK__H5_JOB_TREE, RNNCK__H5_JOB_PROBE } rnnck__h5_job_kind;
/* Runs a job (the metadata walk of rnnck_load, or the whole check) in the
 * helper and returns its status and message (and, with report, its report
 * lines); RNNCK_E_FORMAT if the helper crashed or broke the protocol;
 * RNNCK_E_IO if it cannot be found or started. */
/* The file is the caller's descriptor fd, opened once (rnnck__open_regular_input)
 * and handed to the helper as its fd 3; path only names it in messages. sb
 * is the fstat the caller checked: a descriptor whose device, inode or size
 * differ from it now is RNNCK_E_IO. */
rnnck_status rnnck__h5_isolated(const char *path, int fd, const struct stat *sb, const rnnck_limits *lim,
                                unsigned flags, rnnck__h5_job_kind kind, rnnck_report *report);
/* Opens path (rnnck__open_regular_input), runs the job on it, closes it. */
rnnck_status rnnck__h5_isolated_path(const char *path, const rnnck_limits *lim, unsigned flags,
                                     rnnck__h5_job_kind kind, rnnck_report *report);
/* A helper kept for many reads of one file (job `serve`): started by
 * session_open with an address-space limit for datasets of max_bytes and a
 * CPU limit for total_bytes read in all; each read sends one request and
 * checks the reply's lengths and status. The file is fd, as for
 * rnnck__h5_isolated (the session's helper gets its own copy as fd 3: the
 * caller may close fd afterwards). After the helper died
 * or broke the protocol, every read fails (RNNCK_E_FORMAT). close ends it.
 * Not for use by two threads at once. */
typedef struct rnnck__h5_session rnnck__h5_session;
rnnck_status rnnck__h5_session_open(const char *path, int fd, const struct stat *sb, int64_t max_bytes,
                                    int64_t total_bytes, rnnck__h5_session **out);
rnnck_status rnnck__h5_session_read(rnnck__h5_session *s, const char *object, rnnck_dtype dtype, int64_t numel,
                                    void *dst, size_t nbytes);
void rnnck__h5_session_close(rnnck__h5_session *s);
/* True once the session's helper died or broke the protocol. */
bool rnnck__h5_session_failed(const rnnck__h5_session *s);
/* Absolute path of the helper found beside the library, or NULL. */
const char *rnnck__h5_helper_path(void);
/* In the helper: every rnnck__h5_open opens proc_path (the descriptor fd the
 * library handed down, as /proc/self/fd/N) instead of the path it is given,
 * which then only names the file in messages; the open is refused unless
 * what it and libhdf5 opened is fd's file. */
void rnnck__h5_open_through(int fd, const char *proc_path);
/* That descriptor (-1 outside the helper): the helper's own sessions hand
 * it on. */
int rnnck__h5_inherited_fd(void);
/* The helper's `serve` job on path: requests read from in, replies written
 * to out, until the end of the requests; 0, or 2 (a malformed request) or 3
 * (a reply could not be written). Also run in-process by the fuzz target
 * rnnck_h5_walk, in a thread standing in for the helper. */
int rnnck__h5_serve(int in, int out, const char *path);
/* main() of the helper program. */
int rnnck__h5_helper_main(int argc, char **argv);

#endif
