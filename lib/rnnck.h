/*
 * rnnck.h — the RNN checkpoint kit: the one public header.
 *
 * rnnck reads, writes, checks, converts and runs recurrent-network checkpoints
 * (LSTM, GRU, Elman RNN) keyed by PyTorch parameter names.
 *
 * Conventions (apply to every function below unless its comment says otherwise)
 *  - Every name is prefixed rnnck_ / RNNCK_. Handles are opaque.
 *  - Fallible functions return rnnck_status; RNNCK_OK (0) is success and every
 *    error is negative. They clear the per-thread message at entry and, on
 *    failure, leave a one-line message naming the file and the field, read
 *    with rnnck_errmsg(). "Returns:" lists every status a function can give.
 *    Functions returning a value directly never fail, leave the message alone,
 *    and say what they return for NULL / out-of-range arguments.
 *  - "Lazy-read statuses" are those of rnnck_model_load_tensor: a model opened
 *    from an HDF5 file (rnnck_load, or rnnck_open of an rnnck file) reads
 *    tensor bytes on demand, inside any call that needs them.
 *  - Out-parameters come last and are written only on success.
 *  - Ownership: an object returned through `T **out` belongs to the caller and
 *    is released with the matching *_free function (all are NULL-safe) unless
 *    its comment says "borrowed". A pointer returned as a function value is
 *    borrowed: it lives as long as the object it came from (or less, where
 *    said). Pointer arguments are borrowed for the call only; what the library
 *    keeps it copies.
 *  - Nothing here prints, calls exit() or abort(), or asserts on file contents.
 *
 * Threads and processes
 *  - Distinct handles may be used from distinct threads; one handle must not
 *    be used by two threads at once. A model and every tensor borrowed from it
 *    count as one handle, and so do tensors sharing storage (views): their
 *    reference counts are not atomic. Calls that only read a lazily opened
 *    model still change it (they load tensors into it).
 *  - HDF5: rnnck holds one process-wide recursive lock across everything it
 *    does with libhdf5 in this process (rnnck_load, rnnck_save, trusted
 *    rnnck_check_file, the lazy reads of an HDF5-backed model and the
 *    closing of its file), so rnnck's own HDF5 calls never overlap, whatever
 *    the libhdf5 build. What the caller must still do: not call libhdf5
 *    directly (or through another library) from other threads while rnnck
 *    works with HDF5.
 *  - Child processes: untrusted HDF5 work runs in a helper program started
 *    with posix_spawn (see rnnck_load, "Isolation"), never a fork() of the
 *    caller, so other threads of the host (inside libhdf5, inside a
 *    non-fork-safe allocator) cannot hang it. The library waits for its own
 *    helper by pid (waitpid(pid)); a host that reaps children it did not
 *    start (waitpid(-1, ...)) or sets SIGCHLD to SIG_IGN only loses the
 *    helper's exit status: a complete reply is still the verdict, and a
 *    crash is still RNNCK_E_FORMAT, without its signal number.
 *  - OpenBLAS: for the length of an rnnck_forward call, OpenBLAS's
 *    process-wide thread count is set to 1 (openblas_set_num_threads) and
 *    then put back as it was: BLAS calls other threads make meanwhile run
 *    on one thread. Do not change OpenBLAS's count from another thread
 *    during the call.
 *  - rnnck_forward with N threads (opts->threads, else OpenBLAS's count)
 *    starts N-1 worker threads of its own for each layer and joins them
 *    before the layer's end; no rnnck thread outlives the call.
 *  - Determinism: rnnck_forward's results are bit-identical from run to run
 *    AND at any thread count, on any CPU, for a given CPU kind and OpenBLAS
 *    build. Every product left to OpenBLAS is cut into blocks whose shapes
 *    depend on the product's shape only, each run by OpenBLAS at one thread;
 *    rnnck's packed kernels sum every element in the same order however
 *    their work is split. Tests compare 1, 2 and 3 threads on every kernel
 *    path the CPU has. Bits may differ between CPUs with different vector
 *    units, or OpenBLAS kernel sets (OPENBLAS_CORETYPE), within the
 *    tolerances the golden tests hold.
 *  - Outputs are created with O_EXCL at mode 0666 (the kernel applies the
 *    umask); the process umask is never changed.
 *
 * Paths
 *  - Input paths must name regular files. A directory, device, FIFO or
 *    socket is refused with RNNCK_E_IO naming what it is, without blocking
 *    (opened O_NONBLOCK and examined first). The rnnck tool spools "-" and
 *    FIFOs into a temporary file before calling the library.
 *  - Output paths (rnnck_write, rnnck_save, rnnck_npy_save,
 *    rnnck_validation_plot_svg): a missing path or regular file gets a
 *    temporary file beside it, renamed over it on success; a symlink to a
 *    regular file is written through (the target is replaced, the link
 *    stays); "-" means standard output (fd 1); an existing character device,
 *    FIFO or socket is written directly, never renamed over, by writers that
 *    stream (npz, pytorch, npy, svg), while the HDF5 writers (rnnck, keras) refuse it
 *    with RNNCK_E_WRITE ("needs a seekable file"); a directory, block device
 *    or dangling symlink is RNNCK_E_WRITE. A stream keeps what was written
 *    before a failure. Opening a FIFO blocks until it has a reader.
 *  - rnnck_formats_readable/_writable build their strings once
 *    (pthread_once): safe from any thread.
 */
#ifndef RNNCK_H
#define RNNCK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(RNNCK_BUILDING) && defined(__GNUC__)
#define RNNCK_API __attribute__((visibility("default")))
#else
#define RNNCK_API
#endif

/* ------------------------------------------------------------------ version */

#define RNNCK_VERSION_MAJOR 0
#define RNNCK_VERSION_MINOR 1
#define RNNCK_VERSION_PATCH 0
#define RNNCK_VERSION_STRING "0.1.0"
/* MAJOR*10000 + MINOR*100 + PATCH */
#define RNNCK_VERSION_NUMBER 100

/* The newest schema version this library writes ("MAJOR.MINOR"). An .h5
 * file is written as "1.2" only when a module uses what 1.2 added (LSTM
 * cell_clip, proj_clip), else as "1.1" when a module uses what 1.1 added (a
 * reverse-only direction, a merge mode other than concat), else as "1.0".
 * Readers accept any file whose major equals RNNCK_SCHEMA_MAJOR. */
#define RNNCK_SCHEMA_MAJOR 1
#define RNNCK_SCHEMA_MINOR 2
#define RNNCK_SCHEMA_STRING "1.2"

/* Run-time version of the library actually linked: its RNNCK_VERSION_STRING
 * (static) and RNNCK_VERSION_NUMBER. Never fail. */
RNNCK_API const char *rnnck_version(void);
RNNCK_API int rnnck_version_number(void);

/* ------------------------------------------------------------------- errors */

typedef enum rnnck_status {
    RNNCK_OK = 0,
    RNNCK_E_USAGE = -1,       /* invalid argument from the caller */
    RNNCK_E_FORMAT = -2,      /* input malformed, not of the expected kind */
    RNNCK_E_UNSUPPORTED = -3, /* well-formed input using an unsupported feature */
    RNNCK_E_INEXACT = -4,     /* the target cannot express the source's maths */
    RNNCK_E_IO = -5,          /* the operating system failed a read */
    RNNCK_E_WRITE = -6,       /* an output could not be written */
    RNNCK_E_NOMEM = -7,       /* out of memory, or a size over a safety limit */
    RNNCK_E_NOTFOUND = -8,    /* the named tensor or module does not exist */
    RNNCK_E_SHAPE = -9        /* an array passed in has the wrong shape/dtype */
} rnnck_status;

/* Message of the last failed call on this thread; "" once a later fallible
 * call has succeeded (functions returning values leave it alone). A
 * per-thread buffer owned by the library: the text lasts until the next rnnck
 * call on this thread; copy it to keep it. Never NULL, never fails. */
RNNCK_API const char *rnnck_errmsg(void);
/* Static description of a status code ("unknown status" for any other
 * value). Never NULL, never fails. */
RNNCK_API const char *rnnck_strerror(rnnck_status status);

/* ------------------------------------------------------------------- dtypes */

typedef enum rnnck_dtype {
    RNNCK_DTYPE_INVALID = 0,
    RNNCK_F32 = 1,
    RNNCK_F64 = 2,
    RNNCK_F16 = 3,
    RNNCK_BF16 = 4,
    RNNCK_I64 = 5,
    RNNCK_I32 = 6,
    RNNCK_I16 = 7,
    RNNCK_I8 = 8,
    RNNCK_U8 = 9,
    RNNCK_BOOL = 10
} rnnck_dtype;

/* The dtype functions never fail. */
/* Bytes per element (0 for RNNCK_DTYPE_INVALID or any unknown value). */
RNNCK_API size_t rnnck_dtype_size(rnnck_dtype dtype);
/* "float32", "float64", "float16", "bfloat16", "int64", ... (static);
 * "invalid" for an unknown value. */
RNNCK_API const char *rnnck_dtype_name(rnnck_dtype dtype);
/* 1 for F32, F64, F16, BF16; 0 otherwise. */
RNNCK_API int rnnck_dtype_is_float(rnnck_dtype dtype);
/* Parses a name produced by rnnck_dtype_name; RNNCK_DTYPE_INVALID if unknown
 * or NULL. */
RNNCK_API rnnck_dtype rnnck_dtype_from_name(const char *name);

/* ------------------------------------------------------------------ tensors */

#define RNNCK_MAX_DIMS 8

/* A strided n-d array over reference-counted storage. Several tensors may share
 * one storage (gate views): writing through one is seen by the others, and the
 * storage lives until the last tensor using it is freed. Reference counts are
 * not atomic: tensors sharing storage belong to one thread at a time. */
typedef struct rnnck_tensor rnnck_tensor;

/* New zero-filled, C-contiguous tensor; caller owns *out (rnnck_tensor_free).
 * Returns: RNNCK_OK; RNNCK_E_USAGE if out is NULL, dtype is invalid, ndim is
 * outside [0, RNNCK_MAX_DIMS], shape is NULL with ndim > 0 or a dimension is
 * negative; RNNCK_E_NOMEM if the byte count overflows or allocation fails. */
RNNCK_API rnnck_status rnnck_tensor_new(rnnck_dtype dtype, int ndim, const int64_t *shape,
                                        rnnck_tensor **out);
/* New tensor holding a copy of `src_bytes` bytes of C-contiguous data at src
 * (must be readable when src_bytes > 0); caller owns *out. Returns: those of
 * rnnck_tensor_new; RNNCK_E_SHAPE if src_bytes != numel * dtype size. */
RNNCK_API rnnck_status rnnck_tensor_from_data(rnnck_dtype dtype, int ndim, const int64_t *shape,
                                              const void *src, size_t src_bytes,
                                              rnnck_tensor **out);
/* Releases the caller's reference; the storage goes with the last tensor
 * (view, model entry) using it. NULL-safe. Never pass a borrowed tensor
 * (rnnck_model_tensor, rnnck_model_find, rnnck_model_param). */
RNNCK_API void rnnck_tensor_free(rnnck_tensor *t);

/* Accessors: never fail. For a NULL t: RNNCK_DTYPE_INVALID, ndim 0, dim -1,
 * stride 0, numel 0, nbytes 0, is_contiguous 0, data NULL, name "". */
RNNCK_API rnnck_dtype rnnck_tensor_dtype(const rnnck_tensor *t);
RNNCK_API int rnnck_tensor_ndim(const rnnck_tensor *t);
/* Size of dimension i (0 <= i < ndim), or -1 when i is out of range. */
RNNCK_API int64_t rnnck_tensor_dim(const rnnck_tensor *t, int i);
/* Stride of dimension i in elements, or 0 when i is out of range. */
RNNCK_API int64_t rnnck_tensor_stride(const rnnck_tensor *t, int i);
/* Product of the dimensions (1 for a 0-d tensor). */
RNNCK_API int64_t rnnck_tensor_numel(const rnnck_tensor *t);
/* numel * dtype size. */
RNNCK_API size_t rnnck_tensor_nbytes(const rnnck_tensor *t);
/* 1 if the elements lie in C order with no gaps (always 1 when empty). */
RNNCK_API int rnnck_tensor_is_contiguous(const rnnck_tensor *t);
/* Pointer to element [0,...,0], or NULL while the data of a lazily opened
 * model has not been loaded (see rnnck_model_load_tensor). Borrowed: valid
 * while any tensor sharing t's storage lives. */
RNNCK_API void *rnnck_tensor_data(rnnck_tensor *t);
RNNCK_API const void *rnnck_tensor_cdata(const rnnck_tensor *t);
/* Name given by the model that holds the tensor ("" for a free tensor or a
 * view). Borrowed: lives as long as t. */
RNNCK_API const char *rnnck_tensor_name(const rnnck_tensor *t);

/* View of block `index` of `count` equal blocks along dimension 0: the gate
 * block of a weight (G*H, in) or bias (G*H). Shares memory with `t`; caller
 * owns *out (rnnck_tensor_free), which keeps the storage alive even after t
 * or its model is freed. Returns: RNNCK_OK; RNNCK_E_USAGE if t or out is
 * NULL, t is 0-d or not loaded, count < 1, index is outside [0, count) or
 * dim 0 is not divisible by count; RNNCK_E_NOMEM. */
RNNCK_API rnnck_status rnnck_tensor_block(rnnck_tensor *t, int count, int index,
                                          rnnck_tensor **out);
/* Copies all elements, converting to `dtype` (float<->float, int->float,
 * int->int; float->int by truncation is refused), into dst in C order.
 * Returns: RNNCK_OK; RNNCK_E_USAGE if t is NULL, dst is NULL with
 * dst_bytes > 0, t is not loaded, dtype is invalid, or t is float and dtype
 * is not; RNNCK_E_SHAPE if dst_bytes != numel * rnnck_dtype_size(dtype). */
RNNCK_API rnnck_status rnnck_tensor_copy_out(const rnnck_tensor *t, rnnck_dtype dtype, void *dst,
                                             size_t dst_bytes);
/* Copies src's elements into t (same shape; dtype converted; strides honoured
 * on both sides, so it writes through views; t and src may overlap).
 * Returns: RNNCK_OK; RNNCK_E_USAGE if t or src is NULL or not loaded, or src
 * is float and t is not; RNNCK_E_SHAPE if the shapes differ; RNNCK_E_NOMEM. */
RNNCK_API rnnck_status rnnck_tensor_assign(rnnck_tensor *t, const rnnck_tensor *src);
/* New C-contiguous copy of t in `dtype`; caller owns *out. Returns: RNNCK_OK;
 * RNNCK_E_USAGE if t or out is NULL, dtype is invalid, t is not loaded, or t
 * is float and dtype is not; RNNCK_E_NOMEM. */
RNNCK_API rnnck_status rnnck_tensor_clone(const rnnck_tensor *t, rnnck_dtype dtype,
                                          rnnck_tensor **out);
/* Min, max, mean, population std over all elements, computed in double.
 * nonfinite_count receives the number of NaN/Inf elements (excluded from the
 * statistics; all four are NaN when no element is finite). Any out-pointer
 * may be NULL. Returns: RNNCK_OK; RNNCK_E_USAGE if t is NULL or not loaded. */
RNNCK_API rnnck_status rnnck_tensor_stats(const rnnck_tensor *t, double *min, double *max,
                                          double *mean, double *std, int64_t *nonfinite_count);

/* -------------------------------------------------------- random generator */

/* Deterministic generator (xoshiro256**, seeded by splitmix64): the same seed
 * gives the same stream on every platform. */
typedef struct rnnck_rng rnnck_rng;
/* Caller owns *out (rnnck_rng_free). Returns: RNNCK_OK; RNNCK_E_USAGE if out
 * is NULL; RNNCK_E_NOMEM. */
RNNCK_API rnnck_status rnnck_rng_new(uint64_t seed, rnnck_rng **out);
RNNCK_API void rnnck_rng_free(rnnck_rng *rng);
/* The draws never fail; they advance the generator's state and return 0 for
 * a NULL rng. */
RNNCK_API uint64_t rnnck_rng_u64(rnnck_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
RNNCK_API double rnnck_rng_uniform(rnnck_rng *rng);
/* Standard normal (Box-Muller on two uniforms). */
RNNCK_API double rnnck_rng_normal(rnnck_rng *rng);

/* ------------------------------------------------------------- initialisers */
/* Initialisers act on any float tensor, including gate views: they write
 * through strides, so initialising a view initialises that block of its
 * parameter. Each returns RNNCK_OK, or RNNCK_E_USAGE if t is NULL, not loaded
 * (load it first) or not a float tensor, plus what its comment adds. */

/* Every element U(lo, hi). Also RNNCK_E_USAGE if rng is NULL, lo or hi is not
 * finite, or lo > hi. */
RNNCK_API rnnck_status rnnck_init_uniform(rnnck_tensor *t, double lo, double hi, rnnck_rng *rng);
/* Every element set to value. */
RNNCK_API rnnck_status rnnck_init_constant(rnnck_tensor *t, double value);
/* A 1-d or 2-d tensor (1-d is treated as one row) made (semi-)orthogonal as by
 * torch.nn.init.orthogonal_(t, gain): orthonormal rows when rows <= cols,
 * orthonormal columns otherwise, times gain; QR of a normal matrix with the
 * signs of R's diagonal folded in, so the result is Haar-distributed. An empty
 * t is left as is. Also RNNCK_E_USAGE if rng is NULL, t is not 1-d or 2-d, or
 * gain is not finite; RNNCK_E_NOMEM. */
RNNCK_API rnnck_status rnnck_init_orthogonal(rnnck_tensor *t, double gain, rnnck_rng *rng);

/* -------------------------------------------------------- recurrent modules */

typedef enum rnnck_cell {
    RNNCK_CELL_INVALID = 0,
    RNNCK_CELL_LSTM = 1,
    RNNCK_CELL_GRU = 2,
    RNNCK_CELL_RNN_TANH = 3,
    RNNCK_CELL_RNN_RELU = 4
} rnnck_cell;

/* The cell and activation functions never fail; strings are static. */
/* "LSTM", "GRU", "RNN_TANH", "RNN_RELU" (schema spelling); "invalid". */
RNNCK_API const char *rnnck_cell_name(rnnck_cell cell);
/* RNNCK_CELL_INVALID if name is unknown or NULL. */
RNNCK_API rnnck_cell rnnck_cell_from_name(const char *name);
/* Gate blocks per parameter: 4, 3, 1, 1 (0 for invalid). */
RNNCK_API int rnnck_cell_gates(rnnck_cell cell);
/* Gate letters in storage order: "ifgo", "rzn", "h", "h" ("" for invalid). */
RNNCK_API const char *rnnck_cell_gate_order(rnnck_cell cell);
/* Index of gate letter g in the storage order, or -1 (also for '\0'). */
RNNCK_API int rnnck_cell_gate_index(rnnck_cell cell, char g);

/* Activation functions, as ONNX names them. out = f(x):
 *  SIGMOID 1/(1+e^-x); TANH; RELU max(0,x); HARD_SIGMOID max(0,min(1,a*x+b));
 *  AFFINE a*x+b; LEAKY_RELU x<0 ? a*x : x; THRESHOLDED_RELU x>a ? x : 0;
 *  SCALED_TANH a*tanh(b*x); ELU x<0 ? a*(e^x-1) : x; SOFTSIGN x/(1+|x|);
 *  SOFTPLUS log(1+e^x).
 * Keras 2's hard_sigmoid is HARD_SIGMOID(0.2, 0.5); Keras 3's is
 * HARD_SIGMOID(1/6, 0.5). */
typedef enum rnnck_act_kind {
    RNNCK_ACT_SIGMOID = 0,
    RNNCK_ACT_TANH,
    RNNCK_ACT_RELU,
    RNNCK_ACT_HARD_SIGMOID,
    RNNCK_ACT_AFFINE,
    RNNCK_ACT_LEAKY_RELU,
    RNNCK_ACT_THRESHOLDED_RELU,
    RNNCK_ACT_SCALED_TANH,
    RNNCK_ACT_ELU,
    RNNCK_ACT_SOFTSIGN,
    RNNCK_ACT_SOFTPLUS,
    RNNCK_ACT_COUNT_
} rnnck_act_kind;

typedef struct rnnck_activation {
    rnnck_act_kind kind;
    double alpha;
    double beta;
} rnnck_activation;

/* ONNX spelling ("Sigmoid", "Tanh", "HardSigmoid", ...); "invalid". */
RNNCK_API const char *rnnck_act_name(rnnck_act_kind kind);
/* Parses an ONNX spelling; RNNCK_ACT_COUNT_ if unknown or NULL. */
RNNCK_API rnnck_act_kind rnnck_act_from_name(const char *name);

/* Activation slots per direction: [0] gate activation f (sigmoid in PyTorch),
 * [1] candidate/cell activation g (tanh), [2] output activation h (tanh,
 * LSTM only). RNN cells use slot [0] only (tanh or relu). */
#define RNNCK_ACT_SLOTS 3

/* How a bidirectional module combines its two directions' output sequences
 * (Keras Bidirectional merge_mode). y_f is the forward direction's output,
 * y_r the reverse direction's, both at the time steps they belong to. */
typedef enum rnnck_merge_mode {
    RNNCK_MERGE_CONCAT = 0, /* [y_f, y_r] on the last axis (PyTorch, ONNX, Keras default) */
    RNNCK_MERGE_SUM = 1,    /* y_f + y_r */
    RNNCK_MERGE_MUL = 2,    /* y_f * y_r */
    RNNCK_MERGE_AVE = 3,    /* (y_f + y_r) / 2 */
    RNNCK_MERGE_NONE = 4,   /* kept apart (Keras returns the list [y_f, y_r]);
                               rnnck_forward gives them in concat's layout,
                               y_f in the first H_out columns, y_r after */
    RNNCK_MERGE_COUNT_
} rnnck_merge_mode;
/* "concat", "sum", "mul", "ave", "none" (schema spelling, static); "invalid".
 * Never fails. */
RNNCK_API const char *rnnck_merge_mode_name(rnnck_merge_mode mode);
/* RNNCK_MERGE_COUNT_ if unknown or NULL. Never fails. */
RNNCK_API rnnck_merge_mode rnnck_merge_mode_from_name(const char *name);

/* Description of one recurrent module: PyTorch's constructor arguments plus the
 * semantics other frameworks have and PyTorch lacks. A description whose
 * semantics fields all hold their PyTorch defaults (see rnnck_module_info_init)
 * means exactly torch.nn.LSTM/GRU/RNN. */
typedef struct rnnck_module_info {
    const char *name; /* dotted prefix ("encoder.rnn"), "" for a bare module */
    rnnck_cell cell;
    int64_t input_size;
    int64_t hidden_size;
    int64_t num_layers;
    int64_t proj_size; /* 0 = none; LSTM only; < hidden_size */
    int bias;          /* 1: bias_ih/bias_hh present */
    int bidirectional;
    int batch_first;
    rnnck_dtype dtype; /* dtype of the parameters */

    /* --- semantics beyond PyTorch (defaults = PyTorch) --- */
    /* Activations per direction [0]=forward [1]=reverse, per slot. */
    rnnck_activation act[2][RNNCK_ACT_SLOTS];
    int linear_before_reset; /* GRU: 1 = reset applied after the recurrent
                                product (PyTorch, cuDNN, ONNX lbr=1, Keras
                                reset_after=True); 0 = before (Keras
                                reset_after=False, TF1 GRUCell, ONNX lbr=0) */
    double forget_bias;      /* LSTM: added to the forget pre-activation at run
                                time (TF1 forget_bias); 0 = none */
    int peepholes;           /* LSTM: peephole_l{k}[_reverse] (3H: i,f,o) */
    double clip;             /* > 0: gate pre-activations clipped to
                                [-clip, clip] (ONNX clip); 0 = none */
    int input_forget;        /* LSTM: couple forget gate to input gate, f = 1 - i
                                (ONNX input_forget=1) */
    /* --- schema 1.1 (defaults = PyTorch) --- */
    int reverse;             /* unidirectional only: 1 = the one direction runs
                                from the last time step to the first (Keras
                                go_backwards=True, ONNX direction="reverse");
                                its parameters keep the names without _reverse,
                                and h_n is the state after time step 0 */
    int output_reversed;     /* reverse only, num_layers 1 only: 1 = the output
                                sequence comes in the order it was computed,
                                output[s] = state after time step len-1-s (Keras
                                go_backwards with return_sequences); 0 = each
                                output at the time step it belongs to (ONNX Y) */
    rnnck_merge_mode merge_mode; /* bidirectional only; other than CONCAT needs
                                    num_layers 1 (Keras Bidirectional merge_mode) */
    /* --- schema 1.2 (defaults = PyTorch) --- */
    double cell_clip;        /* LSTM: > 0: the new cell state c is clipped to
                                [-cell_clip, cell_clip] after its update, before
                                the output gate's peephole and tanh(c); the
                                clipped c is the state carried on (TF1
                                LSTMCell/LSTMBlockCell cell_clip); 0 = none.
                                Not ONNX's clip (gate pre-activations): both
                                may be set */
    double proj_clip;        /* LSTM with proj_size > 0: > 0: the projected h
                                is clipped to [-proj_clip, proj_clip] (TF1
                                LSTMCell proj_clip); 0 = none */
} rnnck_module_info;

/* Fills *info (not NULL) with PyTorch defaults for `cell`: name "" (static),
 * bias=1, num_layers=1, dtype float32, PyTorch activations,
 * linear_before_reset=1, no extras, reverse=0, output_reversed=0,
 * merge_mode CONCAT, cell_clip=0, proj_clip=0; sizes 0 (to be set). Never
 * fails. */
RNNCK_API void rnnck_module_info_init(rnnck_module_info *info, rnnck_cell cell);
/* Checks a description: sizes > 0 and bounded, proj_size < hidden_size and
 * LSTM-only, float dtype, activations valid and matching an RNN cell, extras
 * only on cells that have them; reverse 0/1 and only unidirectional,
 * output_reversed 0/1 and only with reverse and one layer, merge_mode known,
 * other than CONCAT only bidirectional with one layer; cell_clip and
 * proj_clip finite, >= 0, LSTM only, proj_clip > 0 only with proj_size > 0.
 * Returns: RNNCK_OK; RNNCK_E_USAGE (info NULL,
 * or the first problem, named in the message). */
RNNCK_API rnnck_status rnnck_module_info_validate(const rnnck_module_info *info);
/* 1 when the description is expressible as a plain torch.nn module (0 for
 * NULL). Never fails. */
RNNCK_API int rnnck_module_info_is_pytorch(const rnnck_module_info *info);

/* Parameter kinds of one layer/direction. */
typedef enum rnnck_param {
    RNNCK_PARAM_WEIGHT_IH = 0,
    RNNCK_PARAM_WEIGHT_HH,
    RNNCK_PARAM_BIAS_IH,
    RNNCK_PARAM_BIAS_HH,
    RNNCK_PARAM_WEIGHT_HR, /* projection, LSTM with proj_size > 0 */
    RNNCK_PARAM_PEEPHOLE,  /* LSTM with peepholes */
    RNNCK_PARAM_COUNT_
} rnnck_param;

/* Local parameter name, "weight_ih_l1_reverse" etc., written into buf.
 * Returns: RNNCK_OK; RNNCK_E_USAGE if kind is invalid, layer < 0, buf is NULL
 * or the name does not fit bufsize. */
RNNCK_API rnnck_status rnnck_param_name(rnnck_param kind, int64_t layer, int reverse, char *buf,
                                        size_t bufsize);
/* Whether `kind` exists for this module, and its expected shape. Returns 0 if
 * the module has no such parameter (also for NULL info, an invalid kind, or
 * layer outside [0, num_layers)), else its ndim (shape written to shape[]).
 * Does not validate info. Never fails. */
RNNCK_API int rnnck_param_shape(const rnnck_module_info *info, rnnck_param kind, int64_t layer,
                                int64_t shape[2]);

/* -------------------------------------------------------------------- model */

/* A checkpoint in memory: named tensors in order, plus recurrent-module
 * descriptions. Tensor names are full dotted PyTorch names. */
typedef struct rnnck_model rnnck_model;

/* New empty model; caller owns *out (rnnck_model_free). Returns: RNNCK_OK;
 * RNNCK_E_USAGE if out is NULL; RNNCK_E_NOMEM. */
RNNCK_API rnnck_status rnnck_model_new(rnnck_model **out);
/* Frees m and its references to its tensors: everything borrowed from m dies,
 * while tensors the caller also holds (views, tensors it added) live on.
 * NULL-safe. For an HDF5-backed model it closes the file: an HDF5 call. */
RNNCK_API void rnnck_model_free(rnnck_model *m);

/* Adds a recurrent module and creates its parameters, zero-filled, with
 * exactly the names, shapes and order PyTorch gives them; *info is copied.
 * Returns: RNNCK_OK; RNNCK_E_USAGE if m or info is NULL, the description is
 * invalid (rnnck_module_info_validate), its name is not a valid dotted name
 * or is another module's, or a parameter name is already a tensor of m;
 * RNNCK_E_NOMEM. On failure m is left as it was. */
RNNCK_API rnnck_status rnnck_model_add_module(rnnck_model *m, const rnnck_module_info *info);
/* Adds a tensor that belongs to no recurrent module (embedding, linear...).
 * The model takes a new reference; the caller keeps its own (and must not use
 * t from another thread while m is in use). name is copied and becomes t's.
 * Returns: RNNCK_OK; RNNCK_E_USAGE if an argument is NULL, name is not a
 * valid dotted name (1..1024 bytes, no '/', control characters, leading,
 * trailing or doubled dots), t already belongs to a model, or name is taken;
 * RNNCK_E_NOMEM. */
RNNCK_API rnnck_status rnnck_model_add_tensor(rnnck_model *m, const char *name, rnnck_tensor *t);

/* Number of modules (0 for NULL). Never fails. */
RNNCK_API size_t rnnck_model_module_count(const rnnck_model *m);
/* Borrowed, valid until m is freed or another module is added to it (its
 * name string lives until m is freed); NULL if m is NULL or i is out of
 * range. Never fails. */
RNNCK_API const rnnck_module_info *rnnck_model_module(const rnnck_model *m, size_t i);
/* Index of the module whose name is `name`. Returns: RNNCK_OK; RNNCK_E_USAGE
 * if an argument is NULL; RNNCK_E_NOTFOUND. */
RNNCK_API rnnck_status rnnck_model_find_module(const rnnck_model *m, const char *name,
                                               size_t *index);

/* Notes a reader left about the model: facts the conversion relied on that
 * the module descriptions cannot show (e.g. a TensorFlow bidirectional
 * scope whose backward direction shares the forward weights). Count (0 for
 * NULL) and note i (borrowed, valid until m is freed; NULL if m is NULL or i
 * is out of range). Never fail. */
RNNCK_API size_t rnnck_model_note_count(const rnnck_model *m);
RNNCK_API const char *rnnck_model_note(const rnnck_model *m, size_t i);

/* Number of tensors (0 for NULL). Never fails. */
RNNCK_API size_t rnnck_model_tensor_count(const rnnck_model *m);
/* Borrowed, valid until m is freed; NULL if m is NULL or i is out of range.
 * Never fails. */
RNNCK_API rnnck_tensor *rnnck_model_tensor(const rnnck_model *m, size_t i);
/* Borrowed tensor named `name` (full dotted name), valid until m is freed.
 * Returns: RNNCK_OK; RNNCK_E_USAGE if an argument is NULL; RNNCK_E_NOTFOUND. */
RNNCK_API rnnck_status rnnck_model_find(const rnnck_model *m, const char *name,
                                        rnnck_tensor **out);
/* Borrowed parameter of a module, valid until m is freed. Returns: RNNCK_OK;
 * RNNCK_E_USAGE if m or out is NULL or module is out of range;
 * RNNCK_E_NOTFOUND if the module has no such parameter (kind, layer, reverse
 * of a unidirectional module) or m lacks the tensor. */
RNNCK_API rnnck_status rnnck_model_param(const rnnck_model *m, size_t module, rnnck_param kind,
                                         int64_t layer, int reverse, rnnck_tensor **out);
/* Gate block view of a module parameter: gate is a letter of the cell's gate
 * order ('i','f','g','o' / 'r','z','n' / 'h'). Peepholes use 'i','f','o'.
 * Caller owns the view (rnnck_tensor_free). An unloaded parameter is loaded
 * into m first (m changes despite the const; an HDF5 call if HDF5-backed).
 * Returns: those of rnnck_model_param; RNNCK_E_USAGE if kind is
 * RNNCK_PARAM_WEIGHT_HR or gate is not one of its letters; lazy-read
 * statuses; RNNCK_E_NOMEM. */
RNNCK_API rnnck_status rnnck_model_gate(const rnnck_model *m, size_t module, rnnck_param kind,
                                        int64_t layer, int reverse, char gate,
                                        rnnck_tensor **out);

/* Loads the data of tensor t of the lazily opened model m into t, where it
 * stays (no-op when loaded). t must be a tensor of m. Chunked and compact
 * datasets of an untrusted HDF5 file are read in the isolated helper (see
 * rnnck_load). On failure t stays unloaded.
 * Returns (the "lazy-read statuses"): RNNCK_OK; RNNCK_E_USAGE if m or t is
 * NULL or m has no data source for t; RNNCK_E_FORMAT if the dataset cannot
 * be read (file changed since opening, corrupt data, libhdf5 crashed in the
 * helper); RNNCK_E_IO if the helper cannot be found or started;
 * RNNCK_E_NOMEM. */
RNNCK_API rnnck_status rnnck_model_load_tensor(rnnck_model *m, rnnck_tensor *t);
/* Loads every tensor, in order. Returns: RNNCK_E_USAGE if m is NULL, else as
 * rnnck_model_load_tensor for the first tensor that fails (the ones before it
 * stay loaded). */
RNNCK_API rnnck_status rnnck_model_load_all(rnnck_model *m);
/* Reads tensor `name` converted to `dtype` into dst (C order) without keeping
 * it in memory (an unloaded tensor read in another dtype is loaded, converted
 * and dropped). Returns: RNNCK_OK; RNNCK_E_USAGE if m or name is NULL, dtype
 * is invalid, or a float tensor is asked for in a non-float dtype;
 * RNNCK_E_NOTFOUND; RNNCK_E_SHAPE if dst_bytes != numel * dtype size or dst
 * is NULL; lazy-read statuses. */
RNNCK_API rnnck_status rnnck_model_read(rnnck_model *m, const char *name, rnnck_dtype dtype,
                                        void *dst, size_t dst_bytes);

typedef enum rnnck_init_method {
    RNNCK_INIT_DEFAULT = 0,   /* U(-1/sqrt(H), 1/sqrt(H)) on every parameter */
    RNNCK_INIT_ORTHOGONAL = 1 /* each gate block of each weight orthogonal,
                                 weight_hr orthogonal, biases and peepholes
                                 zero */
} rnnck_init_method;

/* Initialises every parameter of module `module` from a generator seeded with
 * `seed`. If set_forget_bias is non-zero the forget block of bias_ih and
 * bias_hh is then set to forget_bias. Unloaded parameters of a lazily opened
 * model get fresh storage (nothing is read from the file). Returns: RNNCK_OK;
 * RNNCK_E_USAGE if m is NULL, module is out of range, method is unknown, or
 * set_forget_bias is given for a non-LSTM, a module without bias or a
 * non-finite forget_bias (all checked before anything is written);
 * RNNCK_E_NOTFOUND if m lacks one of the module's parameters; RNNCK_E_NOMEM
 * (then parameters may be partly initialised). */
RNNCK_API rnnck_status rnnck_model_init_module(rnnck_model *m, size_t module,
                                               rnnck_init_method method, uint64_t seed,
                                               int set_forget_bias, double forget_bias);

/* ------------------------------------------------------------ HDF5 schema */

/* Safety limits applied while reading untrusted files. */
typedef struct rnnck_limits {
    int64_t max_tensors;      /* default 100000 */
    int64_t max_tensor_bytes; /* default 16 GiB */
    int64_t max_dim;          /* default 2^31 */
} rnnck_limits;
/* Fills *limits with the defaults. NULL-safe, never fails. */
RNNCK_API void rnnck_limits_init(rnnck_limits *limits);

/* Opens an rnnck HDF5 checkpoint. Reads and validates metadata only (modules,
 * names, dtypes, shapes, storage layout); tensor bytes are read on demand
 * (rnnck_model_load_tensor / rnnck_model_read) or all at once with
 * rnnck_model_load_all, from the file, which stays open until
 * rnnck_model_free. limits may be NULL for defaults. Caller owns *out.
 * Returns: RNNCK_OK; RNNCK_E_USAGE (path or out NULL, a limit < 1 or
 * max_tensor_bytes < 0); RNNCK_E_IO (cannot open or stat, not a regular
 * file, the file changed while it was being read); RNNCK_E_FORMAT (empty,
 * not HDF5, not rnnck, malformed, over a limit, libhdf5 crashed); RNNCK_E_UNSUPPORTED (newer schema major, HDF5 features
 * outside the schema); RNNCK_E_NOMEM.
 * Isolation: libhdf5 1.10.8 can crash on malformed files, so libhdf5 never
 * reads the file in this process: the metadata walk runs in a separate
 * helper program, rnnck-h5-reader, which sends back a description of the
 * model that this process checks and builds the model from; contiguous data
 * is then read from the file directly, chunked and compact data by one
 * helper kept for the model (ended by rnnck_model_free); a helper that dies
 * becomes RNNCK_E_FORMAT ("libhdf5 crashed while reading this file"). The helper is installed in
 * LIBEXECDIR/rnnck/ and found from the library's own location (dladdr:
 * LIBDIR/../libexec/rnnck relative to librnnck.so, BINDIR/../libexec/rnnck
 * relative to a program linking librnnck.a, the same directory in a build
 * tree, then the configured install directory), never from PATH; if it is
 * missing or cannot be started, the call fails with RNNCK_E_IO (nothing
 * runs unisolated behind the caller's back). It is started with posix_spawn
 * (no fork of the caller: no inherited locks, no atfork handlers), with
 * default signal handling, only fds 0-3 open (0 and 2 on /dev/null, 3 the
 * file: rnnck opens path once and every helper reads that descriptor, so a
 * file renamed over path after this call is never read; without /proc
 * mounted, untrusted files are refused with RNNCK_E_IO), and
 * limits on its address space (2 GiB plus twice the data it must hold) and
 * CPU time (30 s plus 1 s per 32 MiB of file or data), and it answers over
 * a pipe in a small checked protocol. rnnck_open with RNNCK_OPEN_TRUSTED
 * skips the helper for files the caller trusts. Threads: see "Threads and
 * processes" above. This contains crashes, not silent memory corruption:
 * still treat untrusted HDF5 as untrusted. */
RNNCK_API rnnck_status rnnck_load(const char *path, const rnnck_limits *limits,
                                  rnnck_model **out);
/* Writes the model as an rnnck HDF5 checkpoint (schema RNNCK_SCHEMA_STRING),
 * through a temporary file beside `path` renamed over it on success: on
 * failure `path` is untouched. Unloaded tensors of a lazily opened model are
 * read one at a time and not kept. Returns: RNNCK_OK; RNNCK_E_USAGE (m or
 * path NULL or empty; a module parameter missing or of the wrong shape or
 * dtype); RNNCK_E_UNSUPPORTED (names the schema cannot hold, refused before
 * any file is created: a tensor inside a module's group that is not its
 * parameter, or a tensor name that is also the prefix of another, "a" and
 * "a.b"); RNNCK_E_WRITE (temporary file, libhdf5 or rename failure);
 * RNNCK_E_NOMEM; lazy-read statuses. */
RNNCK_API rnnck_status rnnck_save(rnnck_model *m, const char *path);

/* ------------------------------------------------------------------- check */

typedef struct rnnck_report rnnck_report;

#define RNNCK_CHECK_ALLOW_NONFINITE 1u
/* The file is trusted: check it in this process, without the helper. */
#define RNNCK_CHECK_TRUSTED 2u

/* Checks `path` against the schema, and float data for NaN/Inf unless flags
 * has RNNCK_CHECK_ALLOW_NONFINITE (the whole check runs in the isolated
 * helper program, see rnnck_load, unless flags has RNNCK_CHECK_TRUSTED). Returns RNNCK_OK when the file could be examined: problems,
 * if any, are in *out (caller owns it, rnnck_report_free), one line each
 * naming the file and the object (a newer schema major and unreadable data
 * are such problems). Errors, with *out not written: RNNCK_E_USAGE (path or
 * out NULL); RNNCK_E_IO (cannot open or stat, not a regular file);
 * RNNCK_E_FORMAT (empty, not HDF5, no or malformed rnnck_schema attribute,
 * root group unreadable, libhdf5 crashed); RNNCK_E_NOMEM. */
RNNCK_API rnnck_status rnnck_check_file(const char *path, unsigned flags, rnnck_report **out);
/* Number of problems (0 for NULL). Never fails. */
RNNCK_API size_t rnnck_report_count(const rnnck_report *r);
/* Borrowed, valid until rnnck_report_free; NULL if r is NULL or i is out of
 * range. Never fails. */
RNNCK_API const char *rnnck_report_item(const rnnck_report *r, size_t i);
RNNCK_API void rnnck_report_free(rnnck_report *r);

/* ------------------------------------------------------------------ numpy */

/* Reads a .npy file (format 1.0-3.0, either byte order, C or Fortran order,
 * float16/32/64, int8-64, uint8, bool) into a new C-contiguous tensor in
 * native byte order; caller owns *out. Object arrays (pickles) are refused.
 * Returns: RNNCK_OK; RNNCK_E_USAGE (NULL argument); RNNCK_E_IO (cannot open,
 * not a regular file, read error); RNNCK_E_FORMAT (malformed header, data
 * size not what the header implies, a bool not 0/1); RNNCK_E_UNSUPPORTED
 * (format version, structured/object/other dtypes, more than RNNCK_MAX_DIMS
 * dimensions); RNNCK_E_NOMEM. */
RNNCK_API rnnck_status rnnck_npy_load(const char *path, rnnck_tensor **out);
/* Same from a memory buffer (copied); `what` names it in messages (NULL:
 * "(buffer)"). Same statuses without RNNCK_E_IO; RNNCK_E_USAGE if buf is
 * NULL with len > 0 or out is NULL. */
RNNCK_API rnnck_status rnnck_npy_parse(const void *buf, size_t len, const char *what,
                                       rnnck_tensor **out);
/* Writes t as .npy format 1.0 (little-endian, C order), atomically. Returns:
 * RNNCK_OK; RNNCK_E_USAGE (t or path NULL or empty, t not loaded);
 * RNNCK_E_UNSUPPORTED (bfloat16: NumPy has none); RNNCK_E_WRITE;
 * RNNCK_E_NOMEM. */
RNNCK_API rnnck_status rnnck_npy_save(const rnnck_tensor *t, const char *path);

/* ------------------------------------------------------- foreign formats */
/* A registry of formats ("rnnck", "pytorch", "npz", ...), each detected by
 * content. Readers map a file into the model; writers refuse (RNNCK_E_INEXACT,
 * naming the module and the feature) any model whose maths the target cannot
 * express. */

typedef struct rnnck_open_opts {
    const char *format;            /* NULL = detect by content */
    const char *key;               /* pytorch: entry of a checkpoint dict
                                      holding the state_dict ("model") */
    const char *const *sets;       /* "module.attr=value" overrides for what
                                      a file cannot tell (nonlinearity=relu,
                                      batch_first=true); NULL-terminated or
                                      NULL */
    const rnnck_limits *limits;    /* NULL = defaults */
    unsigned flags;                /* RNNCK_OPEN_* */
} rnnck_open_opts;
/* opts->flags: the file is trusted. An rnnck (HDF5) file is then walked and
 * its chunked data read in this process, without the isolated helper
 * program (see rnnck_load, "Isolation"): faster, but a malformed file can
 * crash the caller. Other formats are always read in-process (their parsers
 * are rnnck's own, checked code). */
#define RNNCK_OPEN_TRUSTED 1u
/* opts->flags: drop optimizer state (TensorFlow slots such as .../Adam,
 * .../Adam_1, .../Momentum, .../RMSProp, beta1_power, TF2 .OPTIMIZER_SLOT
 * and optimizer/ objects) instead of keeping it as plain tensors. Read by the
 * TensorFlow reader; other readers ignore it. */
#define RNNCK_OPEN_DROP_OPTIMIZER 2u
/* Syntax of opts->sets (pytorch and npz readers; the tf reader takes other
 * attributes, docs/CLI.md "TensorFlow checkpoints"), one override per string:
 *   "[MODULE.]ATTR=VALUE"  MODULE is the dotted module name ("encoder.rnn");
 *                          no MODULE means the root (bare) module.
 *   ATTR nonlinearity      VALUE tanh | relu (RNN modules only; a state_dict
 *                          cannot tell them apart, tanh is the default)
 *   ATTR batch_first       VALUE true | false | 1 | 0 (a state_dict cannot
 *                          tell; default false)
 * Example: {"encoder.rnn.nonlinearity=relu", "batch_first=true", NULL}.
 * An override naming no module or an unknown attribute is RNNCK_E_USAGE.
 * opts->key ("model") picks the entry of a checkpoint dict; without it the
 * one entry holding a state_dict or module is used ("model", "state_dict",
 * "model_state_dict", "net", "module" are preferred when several do). */

/* Sets *format to the name of the format of `path` judged by its first 512
 * bytes (a static string: "rnnck", "pytorch", "npz", "onnx", "keras", "tf");
 * an HDF5 file is "keras" when its root has Keras's attributes or groups and
 * no rnnck_schema (the root is read in the isolated helper). A TensorFlow
 * checkpoint ("tf") is judged by PREFIX.index, whose footer ends in the
 * table magic: `path` may be the prefix (no file of that name), the .index
 * or a .data-NNNNN-of-NNNNN shard. Returns: RNNCK_OK;
 * RNNCK_E_USAGE (NULL argument); RNNCK_E_IO (cannot open or read);
 * RNNCK_E_FORMAT if no format claims it (*format is then not written). */
RNNCK_API rnnck_status rnnck_detect_format(const char *path, const char **format);
/* Opens any supported checkpoint. opts may be NULL (detect the format, no
 * key, no overrides, default limits). Caller owns *out. An rnnck file is
 * opened by rnnck_load (lazy, HDF5: see there; key and sets are ignored).
 * Tensors of a torch.save zip archive (stored records) and of an npz are
 * lazy too: read in place from the archive, which stays open until
 * rnnck_model_free, by rnnck_model_load_tensor / rnnck_model_read /
 * rnnck_model_load_all, whose statuses then include a record's CRC-32
 * mismatch (RNNCK_E_FORMAT). Legacy torch.save streams are read whole, and
 * so are TensorFlow bundles ("tf": every shard, CRC-32C checked; `path` may
 * be the bundle's prefix when PREFIX.index exists, docs/TF.md).
 * Returns: RNNCK_OK;
 * RNNCK_E_USAGE (path or out NULL, unknown format name, a bad opts->sets
 * override, opts->key on a file that is not a dict, several entries holding
 * weights and no key); RNNCK_E_NOTFOUND (opts->key names no entry);
 * RNNCK_E_IO; RNNCK_E_FORMAT (no format claims the file, or it is
 * malformed); RNNCK_E_UNSUPPORTED (a feature of the file the reader
 * refuses); RNNCK_E_NOMEM (also some counts or sizes over opts->limits). */
RNNCK_API rnnck_status rnnck_open(const char *path, const rnnck_open_opts *opts, rnnck_model **out);
/* Writes m in `format` (NULL = from the file extension: .h5/.hdf5/.rnnck ->
 * rnnck, .pt/.pth -> pytorch, .npz -> npz, .onnx -> onnx, .safetensors ->
 * safetensors), atomically or as a stream (see "Paths" above; path "-" is standard output and needs a format);
 * "rnnck" is rnnck_save. Unloaded tensors are read one at a time and not
 * kept. Returns: RNNCK_OK; RNNCK_E_USAGE (m or path NULL or empty, unknown
 * format, extension not recognised or "-" without a format; rnnck: see
 * rnnck_save); RNNCK_E_UNSUPPORTED
 * (rnnck: see rnnck_save); RNNCK_E_INEXACT (pytorch,
 * npz: a module with semantics torch.nn lacks, or for npz a bfloat16
 * tensor; keras: proj_size, peepholes, clip, cell_clip, proj_clip, input_forget, forget_bias,
 * a reverse-only module with outputs at their time steps, merge mode none,
 * tensors no Keras layer holds, and, unless the model is a plain stack of
 * recurrent layers (then written as a full model with its model_config),
 * go_backwards, other merge modes and non-default activations; onnx:
 * proj_size, forget_bias, cell_clip, tensors outside recurrent modules); RNNCK_E_WRITE;
 * RNNCK_E_NOMEM; lazy-read statuses. "keras" is written only when named. */
RNNCK_API rnnck_status rnnck_write(rnnck_model *m, const char *path, const char *format);
/* Progress of a long write: called on the writing thread each time the
 * data of one more tensor has been read from its source, with the bytes of
 * tensor data read so far and the total of the model's tensors (tensors
 * already in memory are not counted in `done`, so it may end below
 * `total`). It must not call rnnck functions on the model being written. */
typedef void (*rnnck_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct rnnck_write_opts {
    const char *format;          /* NULL = from the file extension, as rnnck_write */
    int compress;                /* 0: none. 1-9: format "rnnck" only: every non-empty,
                                    non-scalar dataset chunked (chunk shapes:
                                    docs/SCHEMA.md, "Compression") with the shuffle
                                    and deflate filters at this zlib level */
    rnnck_progress_fn progress;  /* NULL: none */
    void *progress_ctx;
    unsigned flags;              /* RNNCK_WRITE_* */
} rnnck_write_opts;
/* opts->flags, format "onnx" only: the graph gets an int32 input
 * "sequence_lens" (B,) wired to every recurrent node of every layer (ONNX
 * Runtime needs every graph input fed, so it is opt-in). Each batch row then
 * runs for its own length, as rnnck_forward's `lengths`. */
#define RNNCK_WRITE_ONNX_SEQUENCE_LENS 1u
/* opts->flags, every format: the output is on disk when the call returns
 * (written to its temporary file, fsync'd, renamed into place, and its
 * directory fsync'd), not only in the page cache. Without it, like
 * torch.save, h5py and cp, nothing is synced: the rename still means a
 * reader sees the old file or the whole new one, but after a power loss
 * the new name may hold an empty or partial file on some file systems.
 * A stream output (standard output, a FIFO...) is not synced. */
#define RNNCK_WRITE_FSYNC 2u

typedef struct rnnck_write_stats {
    uint64_t tensor_bytes; /* bytes of tensor data written */
    uint64_t stored_bytes; /* rnnck: what the datasets take in the file (compressed
                              size); other formats: tensor_bytes */
} rnnck_write_stats;

/* rnnck_write with options; opts NULL is rnnck_write(m, path, NULL). When
 * stats is not NULL it is filled on success. Returns the statuses of
 * rnnck_write, and RNNCK_E_USAGE for compress outside 0-9, compress
 * non-zero with a format other than "rnnck", an unknown flag, or
 * RNNCK_WRITE_ONNX_SEQUENCE_LENS with a format other than "onnx". */
RNNCK_API rnnck_status rnnck_write_ex(rnnck_model *m, const char *path, const rnnck_write_opts *opts,
                                      rnnck_write_stats *stats);
/* The nearest model torch.nn can run, for conversions that accept an
 * approximation (rnnck convert --allow-approx): a new model whose modules
 * have PyTorch's cell maths in place of what torch.nn lacks (activations
 * become PyTorch's, a reset-before GRU becomes reset-after, clip, cell_clip
 * and proj_clip are dropped, peepholes and their tensors are dropped); names, shapes and every other
 * tensor stay (shared with m, not copied: m must outlive *out; unloaded
 * tensors of m are loaded). A run-time forget_bias is kept (exporters fold
 * it exactly). Measure what changed with rnnck_validate(m, *out).
 * Returns: RNNCK_OK; RNNCK_E_USAGE if an argument is NULL; RNNCK_E_INEXACT
 * naming the module when one has structure no torch.nn module has (a lone
 * backward direction, a merge mode other than concat, input_forget, a
 * forget_bias without biases); lazy-read statuses; RNNCK_E_NOMEM. */
RNNCK_API rnnck_status rnnck_model_approximate_torch(rnnck_model *m, rnnck_model **out);
/* Comma-separated names of the formats this build reads / writes. Static;
 * filled on first call (see "Threads and processes"). Never fail. */
RNNCK_API const char *rnnck_formats_readable(void);
RNNCK_API const char *rnnck_formats_writable(void);

/* ---------------------------------------------------------- forward pass */

typedef struct rnnck_forward_opts {
    int threads; /* rnnck's threads for this call; <= 0: OpenBLAS's count.
                    The result does not depend on it. OpenBLAS itself runs
                    at 1 thread during the call and gets its count back.
                    Under an address-space limit (RLIMIT_AS) fewer threads
                    are used if that many would not fit: each maps
                    OpenBLAS's 128 MiB work buffer, and OpenBLAS retries a
                    failed mapping forever. RNNCK_E_NOMEM naming the limit
                    when not even one fits. */
    rnnck_dtype compute; /* RNNCK_F32 or RNNCK_F64; INVALID = input's dtype */
} rnnck_forward_opts;

/* Runs module `module` on `input` exactly as torch.nn.LSTM/GRU/RNN.forward
 * would, under the module's own semantics (activations, GRU reset placement,
 * forget bias, peepholes, clip, input_forget, cell_clip, proj_clip).
 *  input   (T, B, I), (B, T, I) if batch_first, or unbatched (T, I); f32/f64
 *  h0      (L*D, B, H_out) or (L*D, H_out) unbatched; NULL = zeros
 *  c0      (L*D, B, H) LSTM only; NULL = zeros
 *  lengths (B,) int64/int32, 1 <= len <= T, NULL = all T: the meaning of
 *          pack_padded_sequence(enforce_sorted=False): outputs past a
 *          sequence's end are zero, h_n/c_n come from its last valid step;
 *          output keeps all T steps, as pad_packed_sequence(...,
 *          total_length=T) gives (torch's default trims to max(lengths))
 * opts may be NULL (input's dtype; OpenBLAS's thread count). Outputs are in
 * the compute dtype, bit-identical at any thread count (see "Determinism"
 * above). Parameters of a lazily opened model are loaded
 * into m and stay (an HDF5 call if HDF5-backed).
 * Outputs (caller owns them, rnnck_tensor_free; c_n may be NULL, and *c_n is
 * set to NULL for non-LSTM):
 *  output  (T, B, W) / (B, T, W) / (T, W), W = D*H_out (merge_mode SUM, MUL
 *          or AVE: W = H_out, the two directions merged)
 *  h_n     (L*D, B, H_out) / (L*D, H_out);  c_n (L*D, B, H) / (L*D, H)
 * H_out = proj_size if > 0 else hidden_size. A reverse-only module
 * (info->reverse) runs each sequence from its last valid step to step 0;
 * with output_reversed its output is in that processing order (row s holds
 * the state after step len-1-s; rows past len are zero), else at the steps
 * the outputs belong to. Streaming: feeding h_n/c_n of one
 * call as h0/c0 of the next gives the same result as one call on the joined
 * sequence (forward unidirectional modules; a reverse direction sees the
 * whole sequence by definition). Returns: RNNCK_OK; RNNCK_E_USAGE (m, input,
 * output or h_n NULL; module out of range or its description invalid; c0 for
 * a non-LSTM; compute dtype not F32/F64; an input, state or lengths tensor
 * not loaded); RNNCK_E_SHAPE (a shape or dtype mismatch, with expected and
 * actual in the message; a length outside [1, T]; lengths with unbatched
 * input); RNNCK_E_NOTFOUND (m lacks a parameter of the module);
 * RNNCK_E_NOMEM (also sizes too large for BLAS's int dimensions); lazy-read
 * statuses. */
RNNCK_API rnnck_status rnnck_forward(rnnck_model *m, size_t module, const rnnck_tensor *input,
                                     const rnnck_tensor *h0, const rnnck_tensor *c0,
                                     const rnnck_tensor *lengths, const rnnck_forward_opts *opts,
                                     rnnck_tensor **output, rnnck_tensor **h_n,
                                     rnnck_tensor **c_n);

/* ------------------------------------------------------- ABI handshake */
/* In the spirit of zlib's deflateInit_: a program calls RNNCK_CHECK_ABI() once
 * at start-up. It passes the version and the sizes of the public structs as
 * the program was compiled, and the library answers RNNCK_OK if it can serve
 * them (same major version, header not newer than the library, same struct
 * sizes), RNNCK_E_UNSUPPORTED with a message naming the mismatch otherwise. */
RNNCK_API rnnck_status rnnck_check_abi(int header_version, size_t sizeof_module_info,
                                       size_t sizeof_open_opts, size_t sizeof_forward_opts,
                                       size_t sizeof_limits);
#define RNNCK_CHECK_ABI()                                                                      \
    rnnck_check_abi(RNNCK_VERSION_NUMBER, sizeof(rnnck_module_info), sizeof(rnnck_open_opts), \
                    sizeof(rnnck_forward_opts), sizeof(rnnck_limits))

/* ------------------------------------------------------------ validation */
/* rnnck_validate runs the recurrent modules of two checkpoints, each under
 * its own semantics, on the same inputs, and reports per module pair, input
 * case, output, layer and direction the largest absolute, relative and ULP
 * errors and where they occur. On a mismatch it searches for the conversion
 * mistake that explains it (gate order, transposition, directions, layer
 * order, bias folding, GRU reset placement, gate activation). */

typedef struct rnnck_validate_opts {
    uint64_t seed;     /* inputs and initial states (default 0) */
    int64_t seq_len;   /* T of the ordinary cases (default 16), >= 1 */
    int64_t batch;     /* B (default 3), >= 1 */
    int64_t long_len;  /* T of the long-sequence case (default 200); 0 = skip */
    double atol, rtol; /* an element passes when |a-b| <= atol + rtol*|a|
                          (defaults 1e-5, 1e-4); a NaN/Inf passes only
                          against the identical value */
    /* Not NULL: compare on this input only (no battery), given in A's
     * layout: (T, B, I), (B, T, I) when A's module is batch_first, or
     * unbatched (T, I). Borrowed for the duration of the call. */
    const rnnck_tensor *input;
    int diagnose;  /* non-zero (default): on a mismatch, look for the mistake */
    int per_layer; /* non-zero (default): also compare the output sequence of
                      every layer, by running copies truncated to k layers */
    /* Called on the calling thread after each forward run (done <= total);
     * may be NULL. It must not use the models being validated. */
    void (*progress)(void *user, int64_t done, int64_t total);
    void *progress_user;
    int threads; /* rnnck_forward_opts.threads of every forward run (0, the
                    default: OpenBLAS's count); results do not depend on it */
} rnnck_validate_opts;
/* Fills *opts with the defaults above. NULL-safe, never fails. */
RNNCK_API void rnnck_validate_opts_init(rnnck_validate_opts *opts);

typedef enum rnnck_output_kind {
    RNNCK_OUT_OUTPUT = 0, /* the output sequence of a layer */
    RNNCK_OUT_H_N = 1,
    RNNCK_OUT_C_N = 2
} rnnck_output_kind;
/* "output", "h_n", "c_n" (static; "invalid" otherwise). Never fails. */
RNNCK_API const char *rnnck_output_name(rnnck_output_kind kind);

/* Error statistics over one compared slice (a is the reference side). */
typedef struct rnnck_error_stats {
    int64_t count;    /* elements compared */
    int64_t failures; /* elements outside atol + rtol*|a| */
    double max_abs;   /* max |a-b| (Inf if a NaN/Inf differs) */
    double max_rel;   /* max |a-b|/|a| (Inf when a == 0 != b) */
    double max_ulp;   /* max distance in units in the last place of the
                         outputs' dtype (float32 or float64) */
    /* Where max_abs occurs: time step (-1 for h_n/c_n), batch element, and
     * unit within the direction. -1 when count is 0. */
    int64_t where_t, where_b, where_unit;
} rnnck_error_stats;

/* One compared slice. Strings are borrowed from the validation. */
typedef struct rnnck_validation_row {
    size_t pair;            /* index of the module pair */
    const char *input_case; /* "random", "initial-state", "long",
                               "variable-lengths", "saturating", "user",
                               "expected" */
    rnnck_output_kind output;
    int64_t layer;          /* layer whose output / final state this is */
    int reverse;            /* 0 forward direction, 1 reverse */
    rnnck_error_stats err;
    int pass;
} rnnck_validation_row;

typedef enum rnnck_mistake {
    RNNCK_MISTAKE_GATE_ORDER = 0,   /* gate blocks permuted */
    RNNCK_MISTAKE_TRANSPOSED,       /* a matrix transposed / reshaped */
    RNNCK_MISTAKE_DIRECTIONS,       /* forward and reverse swapped */
    RNNCK_MISTAKE_LAYER_ORDER,      /* layers out of order */
    RNNCK_MISTAKE_BIAS,             /* bias dropped or folded twice */
    RNNCK_MISTAKE_GRU_RESET,        /* linear_before_reset flipped */
    RNNCK_MISTAKE_ACTIVATION        /* gate activation (sigmoid / hard_sigmoid) */
} rnnck_mistake;
/* "gate-order", "transposed", "directions", "layer-order", "bias",
 * "gru-reset", "activation" (static). Never fails. */
RNNCK_API const char *rnnck_mistake_name(rnnck_mistake kind);

/* A candidate mistake that explains a mismatch. */
typedef struct rnnck_finding {
    rnnck_mistake kind;
    int64_t layer;        /* -1: every layer */
    int reverse;          /* -1: every direction */
    int exact;            /* 1: with the fix, B matches A within tolerance;
                             0: the fix only shrinks the error (>= 10x) */
    double max_abs_before, max_abs_after; /* on the diagnosis input */
    const char *text;     /* "B matches A if its gate blocks are read as
                             i,o,f,g (...)" */
} rnnck_finding;

typedef struct rnnck_validation_pair {
    const char *module_a, *module_b; /* "" = bare module; NULL = none */
    const char *pairing;  /* "name", "order and shape", "expected output" */
    const char *problem;  /* NULL, or why the pair could not be compared */
    int pass;
    size_t nfindings;     /* findings, best first (only after a mismatch) */
    const rnnck_finding *findings;
} rnnck_validation_pair;

/* Max |a-b| per time step (over batch and units) of one layer/direction
 * output, for the long case (or the user's input): what --plot draws. */
typedef struct rnnck_error_series {
    size_t pair;
    const char *input_case;
    int64_t layer;
    int reverse;
    int64_t steps;
    const double *max_abs; /* steps values */
} rnnck_error_series;

typedef struct rnnck_validation rnnck_validation;

/* Validates every recurrent module of b against its counterpart in a:
 * modules are paired by name, else by order and shape. Returns RNNCK_OK when
 * the comparison could be made, whatever its verdict (see
 * rnnck_validation_passed); errors: RNNCK_E_USAGE (an argument NULL, bad
 * options, inputs over 2^28 elements), RNNCK_E_SHAPE (opts->input of the
 * wrong rank or width), RNNCK_E_NOTFOUND (a checkpoint holds no recurrent
 * module), RNNCK_E_NOMEM, and the statuses of rnnck_forward (lazy reads
 * included). opts may be NULL (defaults). Neither model's values are
 * modified, but parameters of lazily opened models get loaded into them (an
 * HDF5 call if HDF5-backed). Caller frees *out with rnnck_validation_free. */
RNNCK_API rnnck_status rnnck_validate(rnnck_model *a, rnnck_model *b, const rnnck_validate_opts *opts,
                                      rnnck_validation **out);
/* Runs module `module` of m on `input` (its own layout) and compares the
 * output with `expected` (same layout as rnnck_forward's output), per
 * direction. opts->input is ignored; opts may be NULL. Caller frees *out with
 * rnnck_validation_free. Returns: RNNCK_OK (whatever the verdict);
 * RNNCK_E_USAGE (an argument NULL, bad options); RNNCK_E_NOTFOUND (module out
 * of range); RNNCK_E_SHAPE (expected not float, or its shape not the
 * output's); RNNCK_E_NOMEM; the statuses of rnnck_forward (lazy reads
 * included). */
RNNCK_API rnnck_status rnnck_validate_expected(rnnck_model *m, size_t module, const rnnck_tensor *input,
                                               const rnnck_tensor *expected,
                                               const rnnck_validate_opts *opts,
                                               rnnck_validation **out);
/* Accessors: never fail; 0 / NULL for a NULL v or i out of range. Pointers
 * (and the strings in the structs) are borrowed: valid until
 * rnnck_validation_free. */
/* 1 when every pair was compared and every row is within tolerance. */
RNNCK_API int rnnck_validation_passed(const rnnck_validation *v);
RNNCK_API size_t rnnck_validation_pair_count(const rnnck_validation *v);
RNNCK_API const rnnck_validation_pair *rnnck_validation_pair_at(const rnnck_validation *v, size_t i);
RNNCK_API size_t rnnck_validation_row_count(const rnnck_validation *v);
RNNCK_API const rnnck_validation_row *rnnck_validation_row_at(const rnnck_validation *v, size_t i);
RNNCK_API size_t rnnck_validation_series_count(const rnnck_validation *v);
RNNCK_API const rnnck_error_series *rnnck_validation_series_at(const rnnck_validation *v, size_t i);
/* Writes an SVG chart of the error series (log-scale error over time steps,
 * one line per layer/direction, a legend), atomically. Returns: RNNCK_OK;
 * RNNCK_E_USAGE (v or path NULL or empty); RNNCK_E_WRITE; RNNCK_E_NOMEM. */
RNNCK_API rnnck_status rnnck_validation_plot_svg(const rnnck_validation *v, const char *path);
/* NULL-safe. */
RNNCK_API void rnnck_validation_free(rnnck_validation *v);

/* ------------------------------------------------------------------- diff */

/* One parameter (or other tensor) compared between two checkpoints after
 * mapping both into the schema. Strings borrowed from the diff. */
typedef struct rnnck_diff_row {
    const char *name_a, *name_b; /* full names; NULL on the side that lacks it */
    const char *problem;         /* NULL, or "only in A", "shape ... vs ..." */
    double max_abs;              /* max |a-b| (Inf on a problem) */
    int64_t layer;               /* -1 for a tensor outside any module */
    int reverse;
    int gates;                   /* gate blocks compared (0: none) */
    char gate_letters[8];        /* the cell's gate order, e.g. "ifgo" */
    double gate_max_abs[4];      /* per gate block of the parameter */
    char b_blocks_hold[8];       /* when B's blocks equal A's blocks in
                                    another order: the A gate each B block
                                    holds ("iofg"); "" otherwise */
} rnnck_diff_row;
typedef struct rnnck_diff rnnck_diff;

/* Compares every tensor of b with a: module parameters through the module
 * pairing of rnnck_validate, other tensors by name. atol >= 0 decides which
 * rows count as different. Tensors of lazily opened models are loaded into
 * them and stay (an HDF5 call if HDF5-backed). Caller frees *out with
 * rnnck_diff_free. Returns: RNNCK_OK (whatever the differences);
 * RNNCK_E_USAGE (an argument NULL, atol negative or not finite);
 * RNNCK_E_NOMEM; lazy-read statuses. */
RNNCK_API rnnck_status rnnck_diff_models(rnnck_model *a, rnnck_model *b, double atol, rnnck_diff **out);
/* Accessors: never fail; 0 / NULL for a NULL d or i out of range. Rows are
 * borrowed: valid until rnnck_diff_free. */
RNNCK_API size_t rnnck_diff_row_count(const rnnck_diff *d);
RNNCK_API const rnnck_diff_row *rnnck_diff_row_at(const rnnck_diff *d, size_t i);
/* Number of rows that differ by more than atol or have a problem. */
RNNCK_API size_t rnnck_diff_differences(const rnnck_diff *d);
/* NULL-safe. */
RNNCK_API void rnnck_diff_free(rnnck_diff *d);

#ifdef __cplusplus
}
#endif
#endif /* RNNCK_H */
