/* TensorFlow tensor bundles (formats/tf/): the three real TF 1.x checkpoints
 * of fixtures/tf/real read with the variables, shapes and bytes their .data
 * holds; the bundles of fixtures/tf/make_tf_fixtures.py (rnnck's own writer:
 * slices, two shards, snappy blocks, every dtype, an LSTMCell with peepholes
 * and projection) read back equal to the arrays the script saved; CRC-32C
 * and TensorFlow's slice keys against published values; every malformed
 * bundle of fixtures/tf/bad refused with exit 3 naming the file and field. */
#include <criterion/criterion.h>
#include <isa-l/crc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers/measure.h"
#include "helpers/testutil.h"
#include "rnnck.h"
#include "tf/tf_bundle.h"
#include "tf/tf_internal.h"
#include "tf_bundle.pb-c.h"

/* ---- CRC-32C ---- */

/* Bit by bit, straight from the polynomial: a second implementation. */
static uint32_t crc32c_bitwise(const void *data, size_t n) {
    const unsigned char *p = data;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
    }
    return ~c;
}

Test(tf_crc32c, matches_published_check_values) {
    /* the CRC catalogue's check value, and RFC 3720 (iSCSI) appendix B.4 */
    cr_assert_eq(rnnck__crc32c_extend(0, "123456789", 9), 0xe3069283u);
    unsigned char zeros[32] = {0}, ones[32], inc[32];
    memset(ones, 0xff, sizeof ones);
    for (int i = 0; i < 32; i++) inc[i] = (unsigned char)i;
    cr_assert_eq(rnnck__crc32c_extend(0, zeros, 32), 0x8a9136aau);
    cr_assert_eq(rnnck__crc32c_extend(0, ones, 32), 0x62a8ab43u);
    cr_assert_eq(rnnck__crc32c_extend(0, inc, 32), 0x46dd794eu);
}

Test(tf_crc32c, extends_in_pieces_and_agrees_with_a_bitwise_crc) {
    unsigned char buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (unsigned char)(i * 37 + 11);
    uint32_t whole = rnnck__crc32c_extend(0, buf, sizeof buf);
    cr_assert_eq(whole, crc32c_bitwise(buf, sizeof buf));
    cr_assert_eq(rnnck__crc32c_extend(rnnck__crc32c_extend(0, buf, 333), buf + 333, 667), whole);
    /* every alignment and the tail lengths around ISA-L's vector widths; and
     * ISA-L's generic code (what a CPU without SSE4.2 or carry-less
     * multiplication runs, as its run-time dispatch picks) the same */
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n < 300; n += n < 70 ? 1 : 37) {
            uint32_t want = crc32c_bitwise(buf + off, n);
            cr_assert_eq(rnnck__crc32c_extend(0, buf + off, n), want, "offset %zu, %zu bytes", off, n);
            cr_assert_eq(~crc32_iscsi_base(buf + off, (int)n, 0xffffffffu), want, "generic: offset %zu, %zu bytes",
                         off, n);
        }
}

Test(tf_crc32c, mask_is_tensorflows_rotation_plus_constant_and_invertible) {
    cr_assert_eq(rnnck__crc32c_mask(0), 0xa282ead8u);
    uint32_t xs[] = {1, 0xe3069283u, 0xffffffffu, 0x80000000u};
    for (size_t i = 0; i < 4; i++) {
        uint32_t m = rnnck__crc32c_mask(xs[i]);
        uint32_t rot = m - 0xa282ead8u; /* TensorFlow's Unmask */
        cr_assert_eq((rot >> 17) | (rot << 15), xs[i]);
    }
}

/* ---- slice keys ---- */

Test(tf_slice_key, encodes_name_rank_and_extents_in_ordered_code) {
    /* v, 2-D, rows [2, 2+1), all columns: 00 | 'v' 00 01 | 01 02 | 82 81 | 80 7f */
    int64_t start[2] = {2, 0}, len[2] = {1, -1};
    size_t n;
    unsigned char *k = rnnck__tf_slice_key("v", 2, start, len, &n);
    const unsigned char want[] = {0x00, 'v', 0x00, 0x01, 0x01, 0x02, 0x82, 0x81, 0x80, 0x7f};
    cr_assert_eq(n, sizeof want);
    cr_assert_arr_eq(k, want, n);
    free(k);
    /* 64 needs two bytes (c0 40), -65 too (3f bf); 0xff in a name is escaped */
    int64_t s2[1] = {64}, l2[1] = {-65};
    k = rnnck__tf_slice_key("\xff", 1, s2, l2, &n);
    const unsigned char want2[] = {0x00, 0xff, 0x00, 0x00, 0x01, 0x01, 0x01, 0xc0, 0x40, 0x3f, 0xbf};
    cr_assert_eq(n, sizeof want2);
    cr_assert_arr_eq(k, want2, n);
    free(k);
}

/* ---- reading bundles ---- */

typedef struct read_result {
    rnnck__sd sd;
    size_t skipped;
    rnnck_status st;
} read_result;

static read_result read_bundle(const char *rel) {
    char *path = fixture_path(rel);
    read_result r;
    rnnck__sd_init_for(&r.sd, NULL, path);
    r.skipped = 99;
    r.st = rnnck__tf_bundle_read(path, NULL, &r.sd, &r.skipped);
    free(path);
    return r;
}

static const rnnck_tensor *sd_find(const rnnck__sd *sd, const char *name) {
    for (size_t i = 0; i < sd->n; i++)
        if (strcmp(sd->items[i].name, name) == 0) return sd->items[i].t;
    return NULL;
}

static const void *tdata(const rnnck_tensor *t) { return (const char *)t->storage->data + t->offset; }

/* Every entry of the real bundle at rel (prefix): its tensor equals the
 * .data bytes at the entry's offset, the stored CRC matches a bitwise CRC of
 * those bytes, and the entries cover the shard exactly (sizes add up to the
 * file, no gaps). Frees sd. Returns 1 if offsets do not follow key order. */
static int check_real_bytes(const char *rel, rnnck__sd *sd) {
    int ooo = 0, *out_of_order = &ooo;
    char idx_rel[256], data_rel[256];
    snprintf(idx_rel, sizeof idx_rel, "%s.index", rel);
    snprintf(data_rel, sizeof data_rel, "%s.data-00000-of-00001", rel);
    char *ip = fixture_path(idx_rel), *dp = fixture_path(data_rel);
    size_t dlen;
    unsigned char *data = read_file(dp, &dlen);
    cr_assert(data, "cannot read %s", dp);
    rnnck__tf_table tab;
    cr_assert_eq(rnnck__tf_table_read(ip, 1000000, &tab), RNNCK_OK, "%s", rnnck_errmsg());
    uint64_t covered = 0;
    int64_t prev_off = -1;
    *out_of_order = 0;
    size_t entries = 0;
    for (size_t i = 1; i < tab.n; i++) {
        RnnckTf__BundleEntryProto *e = rnnck_tf__bundle_entry_proto__unpack(NULL, tab.kv[i].value_len, tab.kv[i].value);
        cr_assert(e);
        cr_assert_eq(e->n_slices, 0);
        cr_assert_leq((uint64_t)e->offset + (uint64_t)e->size, dlen);
        const rnnck_tensor *t = sd_find(sd, (const char *)tab.kv[i].key);
        cr_assert(t, "%s: %s not read", rel, tab.kv[i].key);
        cr_assert_eq(rnnck_tensor_nbytes(t), (size_t)e->size);
        cr_assert_arr_eq(tdata(t), data + e->offset, (size_t)e->size, "%s: %s bytes differ", rel, tab.kv[i].key);
        cr_assert_eq(rnnck__crc32c_mask(crc32c_bitwise(data + e->offset, (size_t)e->size)), e->crc32c);
        covered += (uint64_t)e->size;
        if (e->offset < prev_off) *out_of_order = 1;
        prev_off = e->offset;
        entries++;
        rnnck_tf__bundle_entry_proto__free_unpacked(e, NULL);
    }
    cr_assert_eq(entries, sd->n);
    cr_assert_eq(covered, dlen, "%s: entries cover %llu of %zu shard bytes", rel, (unsigned long long)covered, dlen);
    rnnck__tf_table_free(&tab);
    free(data);
    free(ip);
    free(dp);
    rnnck__sd_free(sd);
    return ooo;
}

static void expect_shape(const rnnck__sd *sd, const char *name, int ndim, int64_t d0, int64_t d1) {
    const rnnck_tensor *t = sd_find(sd, name);
    cr_assert(t, "missing %s", name);
    cr_assert_eq(rnnck_tensor_dtype(t), RNNCK_F32, "%s", name);
    cr_assert_eq(rnnck_tensor_ndim(t), ndim, "%s", name);
    if (ndim > 0) cr_assert_eq(rnnck_tensor_dim(t, 0), d0, "%s", name);
    if (ndim > 1) cr_assert_eq(rnnck_tensor_dim(t, 1), d1, "%s", name);
}

Test(tf_real, charrnn_tf012_basic_lstm_cells_read_with_their_bytes) {
    read_result r = read_bundle("tf/real/charrnn_calebfoss/model.ckpt-46499");
    cr_assert_eq(r.st, RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(r.sd.n, 24);
    cr_assert_eq(r.skipped, 0);
    for (int c = 0; c < 2; c++) {
        char n[128];
        snprintf(n, sizeof n, "rnnlm/MultiRNNCell/Cell%d/BasicLSTMCell/Linear/Matrix", c);
        expect_shape(&r.sd, n, 2, 256, 512);
        snprintf(n, sizeof n, "rnnlm/MultiRNNCell/Cell%d/BasicLSTMCell/Linear/Bias", c);
        expect_shape(&r.sd, n, 1, 512, 0);
        snprintf(n, sizeof n, "rnnlm/MultiRNNCell/Cell%d/BasicLSTMCell/Linear/Matrix/Adam_1", c);
        expect_shape(&r.sd, n, 2, 256, 512);
    }
    expect_shape(&r.sd, "rnnlm/embedding", 2, 67, 128);
    expect_shape(&r.sd, "rnnlm/softmax_w", 2, 128, 67);
    expect_shape(&r.sd, "Variable", 0, 0, 0);
    /* key order holds: names arrive sorted */
    for (size_t i = 1; i < r.sd.n; i++) cr_assert_lt(strcmp(r.sd.items[i - 1].name, r.sd.items[i].name), 0);
    check_real_bytes("tf/real/charrnn_calebfoss/model.ckpt-46499", &r.sd);
}

Test(tf_real, tidigits_gru_stack_reads_with_its_bytes) {
    read_result r = read_bundle("tf/real/tidigits/model.ckpt.index");
    cr_assert_eq(r.st, RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(r.sd.n, 44);
    for (int c = 0; c < 3; c++) {
        char n[128];
        int64_t in = c == 0 ? 39 + 120 : 240;
        snprintf(n, sizeof n, "rnn/multi_rnn_cell/cell_%d/gru_cell/gates/weights", c);
        expect_shape(&r.sd, n, 2, in, 240);
        snprintf(n, sizeof n, "rnn/multi_rnn_cell/cell_%d/gru_cell/gates/biases", c);
        expect_shape(&r.sd, n, 1, 240, 0);
        /* GRUCell's gates bias starts at 1.0 and stays near it */
        const float *b = tdata(sd_find(&r.sd, n));
        for (int k = 0; k < 240; k++) cr_assert(b[k] > 0.9f && b[k] < 1.1f, "%s[%d] = %g", n, k, b[k]);
        snprintf(n, sizeof n, "rnn/multi_rnn_cell/cell_%d/gru_cell/candidate/weights", c);
        expect_shape(&r.sd, n, 2, in, 120);
        snprintf(n, sizeof n, "rnn/multi_rnn_cell/cell_%d/gru_cell/candidate/biases", c);
        expect_shape(&r.sd, n, 1, 120, 0);
    }
    expect_shape(&r.sd, "Variable", 2, 120, 11);
    check_real_bytes("tf/real/tidigits/model.ckpt", &r.sd);
}

Test(tf_real, rnn_ctc_cudnn_buffer_and_canonical_copies_read_from_offsets_out_of_key_order) {
    read_result r = read_bundle("tf/real/rnn_ctc/model--6.data-00000-of-00001");
    cr_assert_eq(r.st, RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(r.sd.n, 15);
    expect_shape(&r.sd, "rnn_ctc_model/outputs/cudnn_lstm/opaque_kernel", 1, 243200, 0);
    const char *base = "rnn_ctc_model/outputs/cudnn_lstm/stack_bidirectional_rnn/cell_0/bidirectional_rnn";
    for (int d = 0; d < 2; d++) {
        char n[256];
        snprintf(n, sizeof n, "%s/%s/cudnn_compatible_lstm_cell/kernel", base, d ? "bw" : "fw");
        expect_shape(&r.sd, n, 2, 28 + 160, 640);
        snprintf(n, sizeof n, "%s/%s/cudnn_compatible_lstm_cell/bias", base, d ? "bw" : "fw");
        expect_shape(&r.sd, n, 1, 640, 0);
    }
    cr_assert(check_real_bytes("tf/real/rnn_ctc/model--6", &r.sd),
              "the README says this file's offsets do not follow key order");
}

/* ---- rnnck's own bundles against the script's arrays ---- */

static void check_against_golden(const char *dir, size_t want_skipped) {
    char rel[256];
    snprintf(rel, sizeof rel, "tf/%s/model.ckpt", dir);
    read_result r = read_bundle(rel);
    cr_assert_eq(r.st, RNNCK_OK, "%s: %s", dir, rnnck_errmsg());
    cr_assert_eq(r.skipped, want_skipped, "%s", dir);
    snprintf(rel, sizeof rel, "tf/%s/golden.npz", dir);
    char *gp = fixture_path(rel);
    rnnck_open_opts o = {.format = "npz"};
    rnnck_model *g;
    cr_assert_eq(rnnck_open(gp, &o, &g), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_load_all(g), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_tensor_count(g), r.sd.n, "%s: %zu variables read, %zu in the golden", dir, r.sd.n,
                 rnnck_model_tensor_count(g));
    for (size_t i = 0; i < r.sd.n; i++) {
        char name[512];
        snprintf(name, sizeof name, "%s", r.sd.items[i].name);
        for (char *c = name; *c; c++)
            if (*c == '/') *c = '.';
        rnnck_tensor *gt;
        cr_assert_eq(rnnck_model_find(g, name, &gt), RNNCK_OK, "%s: %s not in the golden", dir, name);
        const rnnck_tensor *t = r.sd.items[i].t;
        if (rnnck_tensor_dtype(t) == RNNCK_BF16)
            cr_assert_eq(rnnck_tensor_dtype(gt), RNNCK_I16, "bfloat16 goldens are their bit patterns");
        else
            cr_assert_eq(rnnck_tensor_dtype(t), rnnck_tensor_dtype(gt), "%s: %s dtype", dir, name);
        cr_assert_eq(rnnck_tensor_ndim(t), rnnck_tensor_ndim(gt), "%s: %s", dir, name);
        for (int d = 0; d < rnnck_tensor_ndim(t); d++)
            cr_assert_eq(rnnck_tensor_dim(t, d), rnnck_tensor_dim(gt, d), "%s: %s dim %d", dir, name, d);
        cr_assert_eq(rnnck_tensor_nbytes(t), rnnck_tensor_nbytes(gt));
        if (rnnck_tensor_nbytes(t))
            cr_assert_arr_eq(tdata(t), tdata(gt), rnnck_tensor_nbytes(t), "%s: %s values differ", dir, name);
    }
    rnnck_model_free(g);
    free(gp);
    rnnck__sd_free(&r.sd);
}

Test(tf_own, sliced_variables_are_stitched_equal_to_the_full_arrays) { check_against_golden("sliced", 0); }
Test(tf_own, two_shards_with_a_variable_sliced_across_both_read_back) { check_against_golden("two_shards", 0); }
Test(tf_own, snappy_blocks_and_every_dtype_read_back_and_strings_are_skipped) {
    check_against_golden("snappy", 1);
}
Test(tf_own, lstm_cell_with_peepholes_and_projection_variables_read_back) {
    check_against_golden("lstm_peephole_proj", 0);
    read_result r = read_bundle("tf/lstm_peephole_proj/model.ckpt");
    expect_shape(&r.sd, "rnn/lstm_cell/kernel", 2, 5 + 3, 16);
    expect_shape(&r.sd, "rnn/lstm_cell/w_f_diag", 1, 4, 0);
    expect_shape(&r.sd, "rnn/lstm_cell/projection/kernel", 2, 4, 3);
    rnnck__sd_free(&r.sd);
}

Test(tf_own, the_snappy_fixture_really_has_compressed_blocks) {
    /* a data block's trailer type byte is 1: found by reading the footer's
     * index handle and the first block handle in it */
    char *p = fixture_path("tf/snappy/model.ckpt.index");
    size_t n;
    unsigned char *f = read_file(p, &n);
    cr_assert(f && n > 48);
    const unsigned char *foot = f + n - 48;
    size_t pos = 0;
    uint64_t v[4];
    for (int k = 0; k < 4; k++) {
        uint64_t x = 0;
        for (int s = 0;; s += 7) {
            x |= (uint64_t)(foot[pos] & 0x7f) << s;
            if (!(foot[pos++] & 0x80)) break;
        }
        v[k] = x;
    }
    /* index block: first entry's value is the first data block handle */
    const unsigned char *ib = f + v[2];
    size_t q = 0;
    uint64_t shared = ib[q++], nonshared = ib[q++], vlen = ib[q++];
    (void)shared, (void)vlen;
    q += nonshared;
    uint64_t off = 0, size = 0;
    for (int s = 0;; s += 7) {
        off |= (uint64_t)(ib[q] & 0x7f) << s;
        if (!(ib[q++] & 0x80)) break;
    }
    for (int s = 0;; s += 7) {
        size |= (uint64_t)(ib[q] & 0x7f) << s;
        if (!(ib[q++] & 0x80)) break;
    }
    cr_assert_eq(f[off + size], 1, "compression type of the first data block");
    free(f);
    free(p);
}

/* ---- the format: detection, the model, the command line ---- */

Test(tf_format, detected_from_prefix_index_or_shard) {
    const char *rels[] = {"tf/real/tidigits/model.ckpt", "tf/real/tidigits/model.ckpt.index",
                          "tf/real/tidigits/model.ckpt.data-00000-of-00001"};
    for (int i = 0; i < 3; i++) {
        char *p = fixture_path(rels[i]);
        const char *fmt = NULL;
        cr_assert_eq(rnnck_detect_format(p, &fmt), RNNCK_OK, "%s: %s", rels[i], rnnck_errmsg());
        cr_assert_str_eq(fmt, "tf");
        cr_assert(rnnck__tf_bundle_probe(p));
        rnnck_model *m;
        cr_assert_eq(rnnck_open(p, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(rnnck_model_tensor_count(m), 44);
        rnnck_model_free(m);
        free(p);
    }
    char *other = fixture_path("tf/make_tf_fixtures.py");
    cr_assert_not(rnnck__tf_bundle_probe(other));
    cr_assert_not(rnnck__tf_bundle_probe("/nonexistent/model.ckpt"));
    free(other);
    cr_assert(strstr(rnnck_formats_readable(), "tf"));
    cr_assert_not(strstr(rnnck_formats_writable(), "tf"));
}

Test(tf_format, cells_become_modules_and_optimizer_slots_stay_apart) {
    /* the cell mapping (tf_cells.c) names things; tests/test_tf_cells.c has the rest */
    char *p = fixture_path("tf/lstm_peephole_proj/model.ckpt");
    rnnck_model *m;
    cr_assert_eq(rnnck_open(p, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    size_t k;
    cr_assert_eq(rnnck_model_find_module(m, "rnn.lstm_cell", &k), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_tensor *t;
    cr_assert_eq(rnnck_model_find(m, "optimizer.rnn.lstm_cell.kernel.Adam", &t), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_find(m, "optimizer.beta1_power", &t), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    free(p);
}

TestSuite(tf_cli, .init = test_dir_setup, .fini = test_dir_teardown);

Test(tf_cli, converts_a_real_prefix_to_h5_with_the_same_bytes) {
    char *p = fixture_path("tf/real/charrnn_calebfoss/model.ckpt-46499");
    char *out = path_join(test_dir, "charrnn.h5");
    tool_result r = run_tool("convert", p, out, "--from", "tf", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    r = run_tool("diff", p, out, NULL);
    cr_assert_eq(r.exit_code, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "0 of 28 tensors differ"), "%s", r.out);
    tool_result_free(&r);
    r = run_tool("inspect", p, NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "format tf"), "%s", r.out);
    cr_assert(strstr(r.out, "module rnnlm.MultiRNNCell: LSTM"), "%s", r.out);
    cr_assert(strstr(r.out, "optimizer.rnnlm.MultiRNNCell.Cell0.BasicLSTMCell.Linear.Matrix.Adam"), "%s", r.out);
    tool_result_free(&r);
    free(out);
    free(p);
}

Test(tf_cli, malformed_bundle_is_exit_3_naming_the_file_and_field) {
    char *p = fixture_path("tf/bad/bad_tensor_crc/model.ckpt");
    tool_result r = run_tool("inspect", p, NULL);
    cr_assert_eq(r.exit_code, 3, "%s", r.err);
    cr_assert(strstr(r.err, "model.ckpt.data-00000-of-00001: a/kernel: tensor CRC-32C"), "%s", r.err);
    tool_result_free(&r);
    free(p);
}

/* ---- malformed bundles: every case of fixtures/tf/bad/CASES ---- */

static rnnck_status status_named(const char *s) {
    if (!strcmp(s, "FORMAT")) return RNNCK_E_FORMAT;
    if (!strcmp(s, "UNSUPPORTED")) return RNNCK_E_UNSUPPORTED;
    if (!strcmp(s, "NOMEM")) return RNNCK_E_NOMEM;
    cr_assert_fail("unknown status %s in CASES", s);
    return RNNCK_OK;
}

Test(tf_bad, every_malformed_bundle_is_refused_naming_file_and_field) {
    char *cases = fixture_path("tf/bad/CASES");
    FILE *f = fopen(cases, "r");
    cr_assert(f, "cannot open %s", cases);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        line[strcspn(line, "\n")] = 0;
        char name[128], status[32];
        int used;
        cr_assert_eq(sscanf(line, "%127s %31s %n", name, status, &used), 2, "%s", line);
        const char *words = line + used;
        char rel[256];
        snprintf(rel, sizeof rel, "tf/bad/%s/model.ckpt", name);
        char *p = fixture_path(rel);
        rnnck_model *m = NULL;
        rnnck_status st = rnnck_open(p, NULL, &m);
        cr_assert_eq(st, status_named(status), "%s: status %d (%s)", name, st, rnnck_errmsg());
        cr_assert_null(m);
        cr_assert(strstr(rnnck_errmsg(), p), "%s: message does not name the file: %s", name, rnnck_errmsg());
        cr_assert(strstr(rnnck_errmsg(), words), "%s: message lacks '%s': %s", name, words, rnnck_errmsg());
        cr_assert_null(strchr(rnnck_errmsg(), '\n'));
        /* the same through the interface the cell mapping uses, leaving nothing behind */
        rnnck__sd sd;
        rnnck__sd_init_for(&sd, NULL, p);
        cr_assert_eq(rnnck__tf_bundle_read(p, NULL, &sd, NULL), st, "%s", name);
        rnnck__sd_free(&sd);
        free(p);
        n++;
    }
    fclose(f);
    free(cases);
    cr_assert_geq(n, 20, "only %d malformed bundles", n);
}

Test(tf_bad, limits_on_tensor_count_and_bytes_are_kept) {
    char *p = fixture_path("tf/real/tidigits/model.ckpt");
    rnnck_limits lim;
    rnnck_limits_init(&lim);
    lim.max_tensors = 10;
    rnnck_open_opts o = {.limits = &lim};
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_open(p, &o, &m), RNNCK_E_NOMEM, "%s", rnnck_errmsg());
    cr_assert(strstr(rnnck_errmsg(), "model.ckpt.index"), "%s", rnnck_errmsg());
    rnnck_limits_init(&lim);
    lim.max_tensor_bytes = 100000; /* the 240x240 gates weights are 230,400 bytes */
    cr_assert_eq(rnnck_open(p, &o, &m), RNNCK_E_NOMEM, "%s", rnnck_errmsg());
    cr_assert(strstr(rnnck_errmsg(), "gates/weights"), "%s", rnnck_errmsg());
    free(p);
}

TestSuite(tf_budget, .init = test_dir_setup, .fini = test_dir_teardown);

Test(tf_budget, a_slice_claiming_bytes_its_shard_lacks_is_refused_before_allocating_the_tensor) {
    /* 2 GiB declared (under max_tensor_bytes), 64 bytes stored: read under a
     * 1 GiB address-space limit, the refusal must be the shard check's */
    char *p = fixture_path("tf/bad/slice_claims_missing_bytes/model.ckpt");
    measured r = measure_open_load_limited(p, NULL, (size_t)1 << 30);
    cr_assert_eq(r.status, RNNCK_E_FORMAT, "status %d: %s", r.status, r.msg);
    cr_assert(strstr(r.msg, "outside the shard"), "%s", r.msg);
    free(p);
}

Test(tf_budget, an_index_over_the_metadata_limit_is_refused_before_reading) {
    char *idx = path_join(test_dir, "big.index");
    FILE *f = fopen(idx, "wb");
    cr_assert(f);
    fclose(f);
    cr_assert_eq(truncate(idx, (off_t)65 << 20), 0); /* sparse: 65 MiB, over 64 MiB */
    char *prefix = path_join(test_dir, "big");
    rnnck__sd sd;
    rnnck__sd_init_for(&sd, NULL, prefix);
    cr_assert_eq(rnnck__tf_bundle_read(prefix, NULL, &sd, NULL), RNNCK_E_NOMEM);
    cr_assert(strstr(rnnck_errmsg(), "over the metadata limit"), "%s", rnnck_errmsg());
    rnnck__sd_free(&sd);
    free(prefix);
    free(idx);
}
