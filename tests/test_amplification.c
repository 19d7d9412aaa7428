/* The budget rule, tested as a rule (docs/BUDGETS.md): every reader runs on
 * inputs of growing size (1x, 2x, 4x, 8x), crafted to amplify work or memory,
 * and what it costs must grow no faster than the input, within a generous
 * factor. Costs are CPU seconds and peak RSS of a child (getrusage), never
 * wall-clock time. A quadratic reader costs 64x at 8x and fails; a linear one
 * costs about 8x. A reader added later joins by adding its generators here. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "tf_bundle.pb-c.h"
#include "tf/tf_internal.h"
#include "helpers/h5craft.h"
#include "helpers/measure.h"
#include "helpers/ptcraft.h"
#include "helpers/testutil.h"
#include "rnnck.h"

TestSuite(amplification, .init = test_dir_setup, .fini = test_dir_teardown);

/* Allowed: cost(8x) <= 8 * FACTOR * max(cost(1x), floor). Costs below the
 * floors are noise (process set-up, page faults), not a trend. */
#define FACTOR 3.0
/* Under AddressSanitizer the tier is a memory-safety run on the same
 * inputs, 4x smaller (it is 5-10x slower), and peak RSS is not compared:
 * ASan's quarantine keeps freed blocks resident up to 256 MB, so RSS follows
 * the volume allocated, not the live memory. The Release suite checks RSS. */
#if defined(__SANITIZE_ADDRESS__)
#define SHRINK 4
#define CHECK_RSS 0
#else
#define SHRINK 1
#define CHECK_RSS 1
#endif
#define CPU_FLOOR_S 0.05
#define RSS_FLOOR_KB (8 * 1024L)

static const float one = 1.0f;
typedef void (*generator)(const char *path, int scale);

/* ------------------------------------------------------ torch.save (.pt) */

/* K appends of an n-item memoised list (the cycle check's worst case). */
static void pt_cycle_check(const char *path, int s) {
    size_t n = 20000 / SHRINK * (size_t)s;
    pkb b = {0};
    pkb_cycle_check(&b, n, n);
    cr_assert_eq(pt_write(path, &b, NULL, 0, false, NULL), 0);
    pkb_free(&b);
}

/* A module's _buffers (n names) against a _non_persistent_buffers_set of
 * 10n memoised strings. */
static void pt_skip_set(const char *path, int s) {
    size_t n = 4000 / SHRINK * (size_t)s;
    pkb b = {0};
    pkb_skip_set(&b, n, 10 * n, true);
    cr_assert_eq(pt_write_one_float(path, &b, false), 0);
    pkb_free(&b);
}

/* n parameter-like names, each with its own module prefix. */
static void pt_module_prefixes(const char *path, int s) {
    pkb b = {0};
    pkb_module_prefixes(&b, 10000 / SHRINK * (size_t)s);
    cr_assert_eq(pt_write_one_float(path, &b, false), 0);
    pkb_free(&b);
}

/* One memoised tensor listed under n distinct names (4 bytes each). */
static void pt_aliases(const char *path, int s) {
    size_t n = 12000 / SHRINK * (size_t)s;
    pkb b = {0};
    pkb_begin_with_tensor(&b, 1);
    pkb_op(&b, '}');
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%zu", i);
        pkb_str(&b, name);
        pkb_get(&b, 1);
        pkb_op(&b, 's');
    }
    pkb_op(&b, '.');
    cr_assert_eq(pt_write_one_float(path, &b, false), 0);
    pkb_free(&b);
}

/* One-byte values (an empty tuple per byte), deflated: the metadata limit
 * and the value cap must keep memory in line with the file. */
static void pt_one_byte_values(const char *path, int s) {
    size_t n = 300000 / SHRINK * (size_t)s;
    pkb b = {0};
    pkb_proto2(&b);
    pkb_op(&b, '(');
    const unsigned char tup = ')';
    pkb_repeat(&b, &tup, 1, n);
    pkb_op(&b, 't');
    pkb_op(&b, '.');
    cr_assert_eq(pt_write(path, &b, NULL, 0, true, NULL), 0);
    pkb_free(&b);
}

/* ------------------------------------ legitimate growth in every format */

/* A model of 300*s one-layer LSTMs (I = H = 1): many names, many modules. */
static rnnck_model *many_modules(int s) {
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    for (int k = 0; k < 300 / SHRINK * s; k++) {
        char name[32];
        snprintf(name, sizeof name, "m%05d", k);
        rnnck_module_info info;
        rnnck_module_info_init(&info, RNNCK_CELL_LSTM);
        info.name = name;
        info.input_size = 1;
        info.hidden_size = 1;
        cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK, "%s", rnnck_errmsg());
    }
    return m;
}

#define WRITER(fmt)                                                                                                    \
    static void many_modules_##fmt(const char *path, int s) {                                                         \
        rnnck_model *m = many_modules(s);                                                                              \
        cr_assert_eq(rnnck_write(m, path, #fmt), RNNCK_OK, "%s", rnnck_errmsg());                                     \
        rnnck_model_free(m);                                                                                           \
    }
WRITER(rnnck)
WRITER(pytorch)
WRITER(npz)
WRITER(onnx)

/* ------------------------------------------------------------- HDF5 */

/* A chunked dataset declaring 16 MiB * s with a single 4 KB chunk stored. */
static void h5_declared_chunks(const char *path, int s) {
    cr_assert_eq(h5c_chunked_zeros_file(path, ((hsize_t)4 << 20) * (hsize_t)s, 1024, 1024), 0);
}

/* ------------------------------------------------------------ Keras */

static void str_array_attr(hid_t obj, const char *name, char **vals, size_t n, size_t width) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, width);
    hsize_t dims = n;
    hid_t sp = n ? H5Screate_simple(1, &dims, NULL) : H5Screate(H5S_SCALAR);
    char *buf = calloc(n ? n : 1, width);
    if (!n) n = 1; /* a scalar: one value */
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(vals[i]);
        memcpy(buf + i * width, vals[i], len < width ? len : width);
    }
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(H5Awrite(a, t, buf), 0);
    H5Aclose(a);
    free(buf);
    H5Sclose(sp);
    H5Tclose(t);
}

/* A tf.keras weights file (save_weights layout) of 20*s Dense layers. */
static void keras_many_layers(const char *path, int s) {
    size_t n = 20 / SHRINK * (size_t)s;
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    char **names = calloc(n, sizeof *names);
    for (size_t i = 0; i < n; i++) {
        names[i] = malloc(32);
        snprintf(names[i], 32, "dense_%zu", i);
    }
    str_array_attr(f, "layer_names", names, n, 16);
    char *backend = "tensorflow", *version = "2.9.0";
    str_array_attr(f, "backend", &backend, 0, strlen(backend));
    str_array_attr(f, "keras_version", &version, 0, strlen(version));
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    const float w = 0.5f;
    for (size_t i = 0; i < n; i++) {
        hid_t g = H5Gcreate2(f, names[i], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        char wn[2][64], *wp[2] = {wn[0], wn[1]};
        snprintf(wn[0], sizeof wn[0], "%s/kernel:0", names[i]);
        snprintf(wn[1], sizeof wn[1], "%s/bias:0", names[i]);
        str_array_attr(g, "weight_names", wp, 2, 40);
        hsize_t kd[2] = {1, 1}, bd[1] = {1};
        hid_t ks = H5Screate_simple(2, kd, NULL), bs = H5Screate_simple(1, bd, NULL);
        hid_t k = H5Dcreate2(g, wn[0], H5T_IEEE_F32LE, ks, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        hid_t b = H5Dcreate2(g, wn[1], H5T_IEEE_F32LE, bs, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        cr_assert(k >= 0 && b >= 0);
        H5Dwrite(k, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &w);
        H5Dwrite(b, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &w);
        H5Dclose(k);
        H5Dclose(b);
        H5Sclose(ks);
        H5Sclose(bs);
        H5Gclose(g);
        free(names[i]);
    }
    free(names);
    H5Pclose(lcpl);
    H5Fclose(f);
}

/* ------------------------------------------------------------- ONNX */

/* 1000*s LSTM nodes that all share one name and one set of initializers
 * (about 40 bytes each): naming them same, same_2, same_3... used to try
 * every suffix against every name given (cubic). */
static void onnx_same_named_nodes(const char *path, int s) {
    size_t n = 1000 / SHRINK * (size_t)s;
    const int64_t H = 1, I = 1;
    float w[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    int64_t wdims[3] = {1, 4 * H, I}, rdims[3] = {1, 4 * H, H};
    Onnx__TensorProto tw = ONNX__TENSOR_PROTO__INIT, tr = ONNX__TENSOR_PROTO__INIT;
    tw.name = "W", tw.data_type = 1, tw.has_data_type = 1, tw.n_dims = 3, tw.dims = wdims, tw.n_float_data = 4, tw.float_data = w;
    tr.name = "R", tr.data_type = 1, tr.has_data_type = 1, tr.n_dims = 3, tr.dims = rdims, tr.n_float_data = 4, tr.float_data = w;
    Onnx__TensorProto *inits[2] = {&tw, &tr};
    Onnx__AttributeProto hs = ONNX__ATTRIBUTE_PROTO__INIT;
    hs.name = "hidden_size", hs.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, hs.has_type = 1, hs.i = H, hs.has_i = 1;
    Onnx__AttributeProto *attrs[1] = {&hs};
    char *ins[3] = {"X", "W", "R"};
    Onnx__NodeProto *nodes = calloc(n, sizeof *nodes), **np = calloc(n, sizeof *np);
    char (*outs)[24] = calloc(n, sizeof *outs);
    char **outp = calloc(n, sizeof *outp);
    cr_assert(nodes && np && outs && outp);
    for (size_t i = 0; i < n; i++) {
        onnx__node_proto__init(&nodes[i]);
        snprintf(outs[i], sizeof outs[i], "y%zu", i);
        outp[i] = outs[i];
        nodes[i].name = "same";
        nodes[i].op_type = "LSTM";
        nodes[i].n_input = 3, nodes[i].input = ins;
        nodes[i].n_output = 1, nodes[i].output = &outp[i];
        nodes[i].n_attribute = 1, nodes[i].attribute = attrs;
        np[i] = &nodes[i];
    }
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    g.name = "g", g.n_node = n, g.node = np, g.n_initializer = 2, g.initializer = inits;
    Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    op.domain = "", op.version = 14, op.has_version = 1;
    Onnx__OperatorSetIdProto *ops[1] = {&op};
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    m.ir_version = 8, m.has_ir_version = 1, m.graph = &g, m.n_opset_import = 1, m.opset_import = ops;
    size_t len = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = malloc(len);
    cr_assert(buf);
    onnx__model_proto__pack(&m, buf);
    cr_assert_eq(write_file(path, buf, len), 0);
    free(buf);
    free(nodes);
    free(np);
    free(outs);
    free(outp);
}

/* ------------------------------------------------- TensorFlow bundles */

static size_t put_varint(unsigned char *p, uint64_t v) {
    size_t n = 0;
    for (; v >= 0x80; v >>= 7) p[n++] = (unsigned char)(v | 0x80);
    p[n++] = (unsigned char)v;
    return n;
}

static void put_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Appends a block (entries already in b[0..len)) with one restart point and
 * its trailer; returns its handle. */
static size_t finish_block(unsigned char *f, size_t at, size_t len, unsigned char *handle) {
    put_le32(f + at + len, 0);
    put_le32(f + at + len + 4, 1);
    len += 8;
    f[at + len] = 0;
    put_le32(f + at + len + 1, rnnck__crc32c_mask(rnnck__crc32c_extend(0, f + at, len + 1)));
    size_t h = put_varint(handle, at);
    return h + put_varint(handle + h, len);
}

/* A .index of 2000*s entries in one data block whose keys share all but
 * their last 8 bytes with the previous key (400 bytes each: prefix
 * compression stores 8), each a float32 tensor of shape (0,): key bytes are
 * about 30x the file, inside the metadata budget, and all are read. */
static void tf_shared_key_prefixes(const char *path, int s) {
    size_t n = 2000 / SHRINK * (size_t)s, klen = 400;
    unsigned char *f = malloc(n * 64 + 4096);
    cr_assert(f);
    RnnckTf__BundleHeaderProto h = RNNCK_TF__BUNDLE_HEADER_PROTO__INIT;
    h.num_shards = 1;
    unsigned char hv[32], ev[32];
    size_t hn = rnnck_tf__bundle_header_proto__pack(&h, hv);
    RnnckTf__TensorShapeProto__Dim dim = RNNCK_TF__TENSOR_SHAPE_PROTO__DIM__INIT, *dims[1] = {&dim};
    RnnckTf__TensorShapeProto shape = RNNCK_TF__TENSOR_SHAPE_PROTO__INIT;
    shape.n_dim = 1, shape.dim = dims;
    RnnckTf__BundleEntryProto e = RNNCK_TF__BUNDLE_ENTRY_PROTO__INIT;
    e.dtype = RNNCK_TF__DATA_TYPE__DT_FLOAT, e.shape = &shape, e.crc32c = rnnck__crc32c_mask(0);
    size_t en = rnnck_tf__bundle_entry_proto__pack(&e, ev);
    size_t len = 0;
    len += put_varint(f + len, 0), len += put_varint(f + len, 0), len += put_varint(f + len, hn);
    memcpy(f + len, hv, hn), len += hn;
    char *key = malloc(klen + 1), last[512];
    cr_assert(key);
    memset(key, 'k', klen - 8);
    for (size_t i = 0; i < n; i++) {
        char num[24];
        snprintf(num, sizeof num, "%08u", (unsigned)(i % 100000000u));
        memcpy(key + klen - 8, num, 8);
        size_t shared = i ? klen - 8 : 0;
        len += put_varint(f + len, shared), len += put_varint(f + len, klen - shared), len += put_varint(f + len, en);
        memcpy(f + len, key + shared, klen - shared), len += klen - shared;
        memcpy(f + len, ev, en), len += en;
    }
    memcpy(last, key, klen);
    unsigned char data_h[24], meta_h[24], index_h[24];
    size_t dh = finish_block(f, 0, len, data_h);
    size_t at = len + 8 + 5;
    size_t mh = finish_block(f, at, 0, meta_h);
    at += 8 + 5;
    size_t il = 0, index_at = at;
    il += put_varint(f + at + il, 0), il += put_varint(f + at + il, klen), il += put_varint(f + at + il, dh);
    memcpy(f + at + il, last, klen), il += klen;
    memcpy(f + at + il, data_h, dh), il += dh;
    size_t ih = finish_block(f, index_at, il, index_h);
    at = index_at + il + 8 + 5;
    memset(f + at, 0, 48);
    memcpy(f + at, meta_h, mh);
    memcpy(f + at + mh, index_h, ih);
    for (int i = 0; i < 8; i++) f[at + 40 + i] = (unsigned char)(RNNCK__TF_TABLE_MAGIC >> (8 * i));
    cr_assert_eq(write_file(path, f, at + 48), 0);
    char *shard = malloc(strlen(path) + 32);
    cr_assert(shard);
    snprintf(shard, strlen(path) + 32, "%.*s.data-00000-of-00001", (int)(strlen(path) - 6), path);
    cr_assert_eq(write_file(shard, "", 0), 0);
    free(shard);
    free(key);
    free(f);
}

/* ----------------------------------------------------------- the check */

static void amplify_as(const char *what, generator gen, const char *suffix) {
    test_deadline(600);
    /* a child that reads a one-tensor file: the fixed cost of a process */
    char *tiny = path_join(test_dir, "tiny.pt");
    pkb b = {0};
    int64_t shape[1] = {1};
    pkb_proto2(&b);
    pkb_op(&b, '}');
    pkb_str(&b, "w");
    pkb_tensor(&b, "0", 1, 1, shape);
    pkb_op(&b, 's');
    pkb_op(&b, '.');
    pt_storage_spec st = {"0", &one, sizeof one};
    cr_assert_eq(pt_write(tiny, &b, &st, 1, false, NULL), 0);
    pkb_free(&b);
    measured base = measure_open_load(tiny, NULL);
    cr_assert_eq(base.status, RNNCK_OK, "%s", base.msg);
    free(tiny);

    const int scales[] = {1, 2, 4, 8};
    measured r[4];
    long bytes[4];
    for (int k = 0; k < 4; k++) {
        char name[64];
        snprintf(name, sizeof name, "in_%d%s", scales[k], suffix);
        char *path = path_join(test_dir, name);
        gen(path, scales[k]);
        size_t len = 0;
        unsigned char *data = read_file(path, &len);
        free(data);
        bytes[k] = (long)len;
        r[k] = measure_open_load(path, NULL);
        cr_assert_neq(r[k].status, -1, "%s at %dx: the reader crashed", what, scales[k]);
        cr_log_info("%-28s %dx: %9ld bytes  %7.3f s CPU  %8ld KB peak  -> %s", what, scales[k], bytes[k], r[k].cpu_s,
                    r[k].maxrss_kb, r[k].status ? r[k].msg : "read");
        free(path);
    }
    double cpu1 = r[0].cpu_s - base.cpu_s, cpu8 = r[3].cpu_s - base.cpu_s;
    long rss1 = r[0].maxrss_kb - base.maxrss_kb, rss8 = r[3].maxrss_kb - base.maxrss_kb;
    double in_ratio = (double)bytes[3] / (double)bytes[0];
    double cpu_allowed = in_ratio * FACTOR * (cpu1 > CPU_FLOOR_S ? cpu1 : CPU_FLOOR_S);
    double rss_allowed = in_ratio * FACTOR * (double)(rss1 > RSS_FLOOR_KB ? rss1 : RSS_FLOOR_KB);
    cr_expect_leq(cpu8, cpu_allowed, "%s: CPU %.3f s at 8x vs %.3f s at 1x (input %.1fx): faster than linear",
                  what, cpu8, cpu1, in_ratio);
    if (CHECK_RSS)
        cr_expect_leq((double)rss8, rss_allowed, "%s: peak %ld KB at 8x vs %ld KB at 1x (input %.1fx): faster than linear",
                      what, rss8, rss1, in_ratio);
}

static void amplify(const char *what, generator gen) { amplify_as(what, gen, ""); }

#define AMPLIFY(name, gen)                                                                                              \
    Test(amplification, name) { amplify(#gen, gen); }

AMPLIFY(pytorch_cycle_check_grows_linearly, pt_cycle_check)
AMPLIFY(pytorch_non_persistent_buffer_set_grows_linearly, pt_skip_set)
AMPLIFY(pytorch_module_prefixes_grow_linearly, pt_module_prefixes)
AMPLIFY(pytorch_tensor_aliases_grow_linearly, pt_aliases)
AMPLIFY(pytorch_one_byte_values_grow_linearly, pt_one_byte_values)
AMPLIFY(rnnck_h5_many_modules_grow_linearly, many_modules_rnnck)
AMPLIFY(pytorch_many_modules_grow_linearly, many_modules_pytorch)
AMPLIFY(npz_many_modules_grow_linearly, many_modules_npz)
AMPLIFY(onnx_many_modules_grow_linearly, many_modules_onnx)
AMPLIFY(rnnck_h5_declared_chunks_grow_linearly, h5_declared_chunks)
AMPLIFY(onnx_same_named_nodes_grow_linearly, onnx_same_named_nodes)
AMPLIFY(keras_many_layers_grow_linearly, keras_many_layers)
Test(amplification, tf_shared_key_prefixes_grow_linearly) { amplify_as("tf_shared_key_prefixes", tf_shared_key_prefixes, ".index"); }
