/* Internal declarations shared by lib/ and formats/. Not installed. */
#ifndef RNNCK_INTERNAL_H
#define RNNCK_INTERNAL_H

#include "rnnck.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#if defined(__GNUC__)
#define RNNCK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RNNCK_PRINTF(a, b)
#endif

/* ---- errors (lib/core/error.c) ---- */
/* Records a message for the current thread and returns `status`. */
rnnck_status rnnck__err(rnnck_status status, const char *fmt, ...) RNNCK_PRINTF(2, 3);
/* Prefixes the current message with "prefix: " (used to add a file name). */
void rnnck__err_prefix(const char *fmt, ...) RNNCK_PRINTF(1, 2);
void rnnck__err_clear(void);
/* Out-of-memory: uses no allocation. */
rnnck_status rnnck__oom(void);

/* ---- checked arithmetic ---- */
static inline bool rnnck__mul_overflow_i64(int64_t a, int64_t b, int64_t *out) {
    return __builtin_mul_overflow(a, b, out);
}
static inline bool rnnck__mul_overflow_size(size_t a, size_t b, size_t *out) {
    return __builtin_mul_overflow(a, b, out);
}
static inline bool rnnck__add_overflow_size(size_t a, size_t b, size_t *out) {
    return __builtin_add_overflow(a, b, out);
}
/* numel of shape (dims >= 0) into *out; false on overflow or negative dim. */
bool rnnck__shape_numel(int ndim, const int64_t *shape, int64_t *out);
/* Formats "(a, b, c)" into buf. */
const char *rnnck__shape_str(int ndim, const int64_t *shape, char *buf, size_t bufsize);

char *rnnck__strdup(const char *s);
/* printf into a new malloc'd string (NULL on OOM). */
char *rnnck__asprintf(const char *fmt, ...) RNNCK_PRINTF(1, 2);

/* ---- half precision (lib/core/dtype.c) ---- */
float rnnck__f16_to_f32(uint16_t h);
uint16_t rnnck__f32_to_f16(float f); /* round to nearest even */
float rnnck__bf16_to_f32(uint16_t h);
uint16_t rnnck__f32_to_bf16(float f); /* round to nearest even */
/* Element i of a buffer of `dtype` as double. */
double rnnck__load_as_double(rnnck_dtype dtype, const void *base, int64_t i);
void rnnck__store_double(rnnck_dtype dtype, void *base, int64_t i, double v);

/* ---- tensors (lib/core/tensor.c) ---- */
typedef struct rnnck_storage {
    size_t refcount;
    void *data;
    size_t nbytes;
} rnnck_storage;

struct rnnck_tensor {
    size_t refcount;
    rnnck_storage *storage; /* NULL while a lazily opened tensor is unloaded */
    size_t offset;          /* bytes from storage->data to element [0..0] */
    rnnck_dtype dtype;
    int ndim;
    int64_t shape[RNNCK_MAX_DIMS];
    int64_t stride[RNNCK_MAX_DIMS]; /* elements */
    char *name;                     /* full dotted name, NULL for free tensors */
    /* lazy loading: index of the tensor in its model's source, -1 if none */
    int64_t source_key;
};

/* Tensor with metadata only (no storage): used by lazy readers. */
rnnck_status rnnck__tensor_new_unloaded(rnnck_dtype dtype, int ndim, const int64_t *shape,
                                        rnnck_tensor **out);
/* Attaches freshly allocated zeroed storage to an unloaded tensor. */
rnnck_status rnnck__tensor_alloc_storage(rnnck_tensor *t);
/* Asks Linux for transparent huge pages on the 2 MiB-aligned interior of
 * [p, p + n) when n is 4 MiB or more (a hint; tensor.c says why). */
void rnnck__advise_huge_pages(void *p, size_t n);
/* New reference to t. */
rnnck_tensor *rnnck__tensor_ref(rnnck_tensor *t);
static inline bool rnnck__tensor_loaded(const rnnck_tensor *t) { return t->storage != NULL; }

/* ---- linear algebra (lib/core/linalg.c) ---- */
/* dst (rows x cols, row-major) = the (semi-)orthogonal factor torch.nn.init.
 * orthogonal_ derives from src (rows x cols, row-major, e.g. standard normal):
 * Householder QR of src (of src^T when rows < cols) in double, Q's columns
 * times sign(diag(R)), transposed back. src and dst may not overlap.
 * RNNCK_E_NOMEM if the workspace cannot be allocated. */
rnnck_status rnnck__orthogonal_factor(const double *src, int64_t rows, int64_t cols, double *dst);

/* ---- modules (lib/core/module.c) ---- */
/* Output width of a direction: proj_size if > 0 else hidden_size. */
int64_t rnnck__h_out(const rnnck_module_info *info);
/* Input width of layer k. */
int64_t rnnck__layer_input(const rnnck_module_info *info, int64_t layer);
/* Upper bound on sizes accepted in module descriptions. */
#define RNNCK__MAX_SIZE ((int64_t)1 << 31)
#define RNNCK__MAX_LAYERS 1024

/* ---- .npy (lib/core/npy.c) ---- */
#define RNNCK__NPY_MAX_PREAMBLE (12 + 64 * 1024) /* magic, version, length, header */
typedef struct rnnck__npy_header {
    rnnck_dtype dtype;
    int swap; /* data byte order differs from the host's */
    int fortran;
    int ndim;
    int64_t shape[RNNCK_MAX_DIMS];
    size_t data_offset; /* bytes from the start of the file to the data */
    size_t data_bytes;  /* what the header implies */
} rnnck__npy_header;
/* Parses magic, version and header from the first len bytes of a .npy file
 * (len may stop after the header). */
rnnck_status rnnck__npy_parse_header(const unsigned char *buf, size_t len, const char *what, rnnck__npy_header *h);
/* Fixes freshly read data of loaded tensor t in place: byte order, Fortran
 * to C order, bool values 0/1 only. */
rnnck_status rnnck__npy_finish(rnnck_tensor *t, const rnnck__npy_header *h, const char *what);

/* ---- model (lib/core/model.c) ---- */
/* A lazy data source behind a model (HDF5 file, zip archive...). */
typedef struct rnnck_source_ops {
    /* Reads tensor t (t->source_key identifies it) into dst: exactly
     * rnnck_tensor_nbytes(t) bytes, C order, t->dtype, native byte order. */
    rnnck_status (*read)(void *ctx, const rnnck_tensor *t, void *dst, size_t nbytes);
    void (*close)(void *ctx);
    /* Optional (NULL: never): where tensor t's bytes lie verbatim (C order,
     * t->dtype, native byte order) in an open file: *fd (the source's;
     * positional reads only) at *offset, so that a writer may copy them file
     * to file. RNNCK_E_UNSUPPORTED when they do not (compressed,
     * byte-swapped...): read them instead. The source checks its checksums
     * first, unless check_due is not NULL and it can leave the check to the
     * copy: then it sets *check_due, and the bytes may be relied on only
     * once `check` has accepted the CRC-32 of exactly those bytes. */
    rnnck_status (*locate)(void *ctx, const rnnck_tensor *t, int *fd, uint64_t *offset, bool *check_due);
    /* With locate: accepts crc as the CRC-32 of t's located bytes, or
     * refuses them (RNNCK_E_FORMAT naming the file and the record). */
    rnnck_status (*check)(void *ctx, const rnnck_tensor *t, uint32_t crc);
} rnnck_source_ops;

/* Gives the model a source; the model closes it when freed. */
void rnnck__model_set_source(rnnck_model *m, const rnnck_source_ops *ops, void *ctx);
/* Copies len bytes at in_off of in_fd to out_off of out_fd, continuing
 * *crc (not NULL) over them: the kernel copies where nothing is to be
 * computed and both ends sit at the same place in a page, else one mapped
 * pass checksums and writes; one bounded buffer where neither works.
 * RNNCK_E_FORMAT if the input ends first; RNNCK_E_WRITE, RNNCK_E_IO. label
 * names the output in messages. (lib/core/file_copy.c) */
rnnck_status rnnck__copy_range(int in_fd, uint64_t in_off, int out_fd, uint64_t out_off, uint64_t len,
                               uint32_t *crc, const char *label);
/* CRC-32 (the IEEE polynomial of zip and gzip) of n bytes continuing crc:
 * ISA-L's, carry-less-multiply accelerated (lib/core/file_copy.c). */
uint32_t rnnck__crc32(uint32_t crc, const void *data, size_t n);
/* Continues *crc over len bytes at off of fd without copying them through a
 * user buffer where the file can be mapped (bounded windows), else through
 * one bounded buffer. RNNCK_E_FORMAT if the file ends first, RNNCK_E_IO;
 * label names the file in messages. */
rnnck_status rnnck__crc32_range(int fd, uint64_t off, uint64_t len, uint32_t *crc, const char *label);
/* Where unloaded tensor t of m lies verbatim in its source's file (see
 * rnnck_source_ops.locate), with the source's check, if any, still to do:
 * pass the extent to rnnck__model_copy_extent. RNNCK_E_UNSUPPORTED when the
 * source has no locate or t is loaded. Counts the bytes as read for
 * progress when it succeeds (the caller copies them). */
typedef struct {
    int fd;
    uint64_t offset;
    bool check_due;
} rnnck__extent;
rnnck_status rnnck__model_locate(rnnck_model *m, const rnnck_tensor *t, rnnck__extent *at);
/* Copies t's bytes from where rnnck__model_locate found them to out_off of
 * out_fd (rnnck__copy_range), finishing the source's check over the same
 * pass; *crc (not NULL) is set to the CRC-32 of the bytes. On failure the
 * output holds bytes that must not be used (a writer's temporary file). */
rnnck_status rnnck__model_copy_extent(rnnck_model *m, const rnnck_tensor *t, const rnnck__extent *at, int out_fd,
                                      uint64_t out_off, uint32_t *crc, const char *label);
/* The model's source context when its source has these ops, else NULL. */
void *rnnck__model_source(const rnnck_model *m, const rnnck_source_ops *ops);
/* Adds an unloaded tensor (metadata only) under `name`; takes a reference. */
rnnck_status rnnck__model_add_tensor_ref(rnnck_model *m, const char *name, rnnck_tensor *t);
/* Adds a module description without creating its parameters (readers that
 * supply the parameters themselves). */
/* Appends a note (formatted, cut at 1 KiB) that rnnck_model_note returns. */
rnnck_status rnnck__model_add_note(rnnck_model *m, const char *fmt, ...) RNNCK_PRINTF(2, 3);
rnnck_status rnnck__model_add_module_desc(rnnck_model *m, const rnnck_module_info *info);
/* Full dotted name of a module parameter ("enc.rnn.weight_ih_l0"). */
rnnck_status rnnck__param_full_name(const rnnck_module_info *info, rnnck_param kind,
                                    int64_t layer, int reverse, char *buf, size_t bufsize);

/* ---- inputs (lib/core/input_kind.c) ---- */
/* "a directory", "a FIFO (named pipe)", ... for messages. */
const char *rnnck__file_kind(mode_t mode);
/* RNNCK_OK if path names a regular file (never blocks, even on a FIFO);
 * RNNCK_E_IO naming what it is otherwise. *size (may be NULL) gets its size. */
rnnck_status rnnck__require_regular_input(const char *path, int64_t *size);
/* The same, keeping the file open: *fd (O_RDONLY | O_CLOEXEC, and
 * O_NONBLOCK, harmless on a regular file) and its fstat in *sb. Readers that
 * read a file more than once read it through this descriptor, so a file
 * renamed over the path meanwhile is never read instead. */
struct stat;
rnnck_status rnnck__open_regular_input(const char *path, int *fd, struct stat *sb);

/* For the reply fuzz targets (fuzz/h5_reply_harness.h) only: when set, the
 * isolated HDF5 reader (lib/h5/h5_isolate.c) starts no helper; each job and
 * session reads the helper's side from the descriptor the hook returns for
 * the job's name ("walk", "tree", "probe", "check", "serve"; -1: cannot
 * start). A session also writes its requests to it (a socket). Never set by
 * the library itself. */
typedef int (*rnnck__h5_spawn_hook_fn)(const char *job);
extern rnnck__h5_spawn_hook_fn rnnck__h5_spawn_hook;

/* rnnck_load with the choice of isolation (lib/h5/h5_schema.c): trusted
 * files are walked and read in this process only (RNNCK_OPEN_TRUSTED). */
rnnck_status rnnck__load(const char *path, const rnnck_limits *limits, bool trusted, rnnck_model **out);
/* rnnck_save with a deflate level (0: none, 1-9: chunked, shuffle + deflate)
 * and, when stats is not NULL, what was written (lib/h5/h5_write.c). */
rnnck_status rnnck__save_ex(rnnck_model *m, const char *path, int level, rnnck_write_stats *stats);

/* Progress of the write running on this thread (lib/core/progress.c):
 * rnnck_write_ex begins and ends it; lazy reads report their bytes. */
void rnnck__progress_begin(rnnck_progress_fn fn, void *ctx, uint64_t total);
void rnnck__progress_add(uint64_t bytes);
void rnnck__progress_end(void);
/* Forgets the calling thread's note of a helper walk made during format
 * detection (lib/h5/h5_schema.c, rnnck__h5_walked): rnnck_open calls it when
 * done, so the note serves only the open that made it. */
void rnnck__h5_walked_forget(void);

/* ---- outputs (lib/core/atomic.c) ---- */
/* An output decided by what `path` is (docs/API.md, "Output paths"):
 *  - missing or a regular file: a unique temporary file beside it, renamed
 *    over it only on commit, so a failure never leaves a half-written output;
 *    a symlink to a regular file is written through (its target is replaced,
 *    the link stays);
 *  - "-" (standard output), a character device, a FIFO or a socket: written
 *    directly (stream), only for writers that write sequentially to fp;
 *  - a directory, block device or dangling symlink: refused. */
typedef struct rnnck__atomic {
    char *final_path;
    char *tmp_path; /* NULL when streaming */
    FILE *fp;       /* open for writing when begun with want_fp */
    bool stream;    /* fp writes straight to the destination: no rename */
} rnnck__atomic;
/* Starts an output. want_fp false: the temporary file exists but is closed
 * (for libraries that open by name and seek, like HDF5); such outputs cannot
 * stream, so a stream destination is RNNCK_E_WRITE ("needs a seekable
 * file"). want_fp true: a->fp writes sequentially, to a temporary file or
 * straight to the stream. RNNCK_E_WRITE on failure. */
rnnck_status rnnck__atomic_begin(rnnck__atomic *a, const char *path, bool want_fp);
/* Flushes, closes and renames into place (not for a stream). When the
 * calling thread asked for durable outputs, the temporary file is synced
 * to disk before the rename and its directory after. On failure, aborts. */
rnnck_status rnnck__atomic_commit(rnnck__atomic *a);
/* Durable outputs on the calling thread (rnnck_write_ex, RNNCK_WRITE_FSYNC):
 * on until turned off. */
void rnnck__atomic_set_durable(bool on);
/* How many fsyncs outputs have had in this process (tests). */
unsigned long rnnck__atomic_syncs(void);
/* Closes and removes the temporary file (a stream keeps what was written).
 * Safe after commit or on a zeroed a. */
void rnnck__atomic_abort(rnnck__atomic *a);

#endif
