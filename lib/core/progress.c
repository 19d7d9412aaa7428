/* Progress of the write running on the calling thread: rnnck_write_ex sets
 * it up, the model's lazy reads (model.c) report each tensor's bytes. */
#include "core/internal.h"

static _Thread_local rnnck_progress_fn progress_fn;
static _Thread_local void *progress_ctx;
static _Thread_local uint64_t progress_done, progress_total;

void rnnck__progress_begin(rnnck_progress_fn fn, void *ctx, uint64_t total) {
    progress_fn = fn;
    progress_ctx = ctx;
    progress_done = 0;
    progress_total = total;
}

void rnnck__progress_add(uint64_t bytes) {
    if (!progress_fn) return;
    progress_done += bytes;
    progress_fn(progress_ctx, progress_done, progress_total);
}

void rnnck__progress_end(void) {
    progress_fn = NULL;
    progress_ctx = NULL;
}
