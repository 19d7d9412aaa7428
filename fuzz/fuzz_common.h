/* Shared by the fuzz targets: a private scratch directory, and the invariants
 * every successfully read model must satisfy. A broken invariant prints what
 * broke and abort()s, which libFuzzer and the replay driver report as a
 * crash. (This is harness code: aborting is its job.) */
#ifndef RNNCK_FUZZ_COMMON_H
#define RNNCK_FUZZ_COMMON_H

#include "core/internal.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "<scratch dir>/<name>": the directory is made once per process and removed
 * at exit. The returned string is static storage, overwritten by each call. */
const char *fz_path(const char *name);
/* Writes data to path (replacing it); aborts if the OS refuses. */
void fz_write_file(const char *path, const uint8_t *data, size_t size);
/* Removes what the harness and rnnck's atomic writer may have left in the
 * scratch directory, so no input sees a file of the previous one. */
void fz_clean_scratch(void);

/* Aborts with a message when cond is false. */
#define FZ_REQUIRE(cond, ...)                                                                                \
    do {                                                                                                     \
        if (!(cond)) fz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                        \
    } while (0)
_Noreturn void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...) RNNCK_PRINTF(4, 5);

/* A failed call: negative status, no output object, and a message that is
 * one non-empty line (the API's contract; file-provided names must not
 * smuggle newlines into it). */
void fz_check_failure(rnnck_status st, const void *out);

/* Tensor invariants: dtype valid, 0 <= ndim <= RNNCK_MAX_DIMS, dims >= 0,
 * numel = product of dims, nbytes = numel * dtype size, and when loaded,
 * every element the strides can reach lies inside the storage. */
void fz_check_tensor(const rnnck_tensor *t);
/* Model invariants: every tensor passes fz_check_tensor and is found by its
 * own name; every module description validates and each parameter it implies
 * exists with exactly the shape rnnck_param_shape gives. Loads lazy tensors. */
void fz_check_model(rnnck_model *m);
/* Writes m in `format` to the scratch directory and reads it back with
 * `reopen`: the same module descriptions and the same tensors, bit for bit,
 * must come back. A refusal to write (RNNCK_E_INEXACT / UNSUPPORTED) is
 * accepted; any other write failure, or a failure to read our own output,
 * is a bug. */
typedef rnnck_status (*fz_reopen_fn)(const char *path, rnnck_model **out);
void fz_check_roundtrip(rnnck_model *m, const char *format, const char *file_name, fz_reopen_fn reopen);
/* Two tensors hold the same dtype, shape and bytes. */
void fz_require_same_tensor(const rnnck_tensor *a, const rnnck_tensor *b, const char *what);

/* Runs every recurrent module (at most a few) forward on a small zero input
 * (T=2, B=1, its batch_first layout): the call either fails with a proper
 * message or returns output, h_n (and c_n for LSTM) of exactly the shapes
 * torch.nn documents, with finite values (zero input, finite weights). */
void fz_check_forward(rnnck_model *m);

/* Reopens an rnnck HDF5 file (rnnck_load): for fz_check_roundtrip. */
rnnck_status fz_reopen_h5(const char *path, rnnck_model **out);
/* The end of a target that read a model: st failed (fz_check_failure), or
 * m obeys the model invariants, runs forward and comes back from the rnnck
 * HDF5 schema unchanged; m is freed. */
void fz_check_read(rnnck_status st, rnnck_model *m);

/* Zip-based targets: recomputes the CRC-32 of every stored member in place
 * (local header and central directory alike), so mutations of member data
 * reach the parsers behind the zip layer instead of dying at the CRC check.
 * Bytes that do not parse as a zip archive are left alone. */
void fz_fix_zip_crcs(uint8_t *data, size_t size);
/* Writes a copy of a zip input, its stored members' CRCs made right, to the
 * scratch file `name`; returns the path (valid until the next fz_path). */
const char *fz_write_zip_input(const char *name, const uint8_t *data, size_t size);
#endif
