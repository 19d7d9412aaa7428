/* Runs a reader in a forked child and reports what it cost: CPU seconds
 * (user + system, the child and the helpers it waited for) and peak RSS.
 * For budget tests: resources, never wall-clock time. */
#ifndef RNNCK_MEASURE_H
#define RNNCK_MEASURE_H

#include "rnnck.h"

typedef struct measured {
    int status;      /* the rnnck_status the child returned; -1 if it crashed */
    double cpu_s;    /* user + system CPU seconds */
    long maxrss_kb;  /* peak resident set of the child */
    char msg[512];   /* rnnck_errmsg() of a failure */
} measured;

/* rnnck_open(path) then rnnck_model_load_all, with `opts` (may be NULL). */
measured measure_open_load(const char *path, const rnnck_open_opts *opts);
/* The same with the child's address space limited to as_bytes (RLIMIT_AS),
 * so an allocation the file did not pay for fails even where calloc would
 * only have reserved it. Under AddressSanitizer (terabytes of shadow) no
 * limit is set. */
measured measure_open_load_limited(const char *path, const rnnck_open_opts *opts, size_t as_bytes);

#endif
