/* The restricted unpickler: what it decodes (protocols 2 and 4, memo sharing,
 * inert class instances) and what it refuses — by name, with one-line
 * messages, without calling anything — both on raw byte strings and inside
 * torch archives (fixtures/pytorch/bad, made by make_pytorch_fixtures.py). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "common/pickle.h"
#include "helpers/testutil.h"

static rnnck_status load(const void *bytes, size_t len, pk_machine **pm, pk_value **root) {
    *pm = NULL;
    *root = NULL;
    rnnck_status st = rnnck__pk_load(bytes, len, "test.pkl", NULL, pm, root);
    if (st) {
        cr_assert_null(*pm);
        cr_assert_gt(strlen(rnnck_errmsg()), 0);
        cr_assert_null(strchr(rnnck_errmsg(), '\n'));
    }
    return st;
}
#define LOAD(lit, pm, root) load(lit, sizeof(lit) - 1, pm, root)

Test(pickle, decodes_protocol_2_scalars_and_containers) {
    static const char p[] = "\x80\x02}(X\x01\x00\x00\x00"
                            "aK\x07X\x01\x00\x00\x00"
                            "bG\x3f\xf8\x00\x00\x00\x00\x00\x00"
                            "X\x01\x00\x00\x00"
                            "cNX\x01\x00\x00\x00"
                            "d\x88X\x01\x00\x00\x00"
                            "e\x8a\x08\x00\x00\x00\x00\x00\xff"
                            "\xff\xffX\x01\x00\x00\x00"
                            "f](K\x01M\x00\x01J\xff\xff\xff\xff"
                            "eX\x01\x00\x00\x00g\x8a\x01\xfe"
                            "u.";
    pk_machine *pm;
    pk_value *v;
    cr_assert_eq(LOAD(p, &pm, &v), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(v->kind, PK_DICT);
    cr_assert_eq(rnnck__pk_dict_get(v, "a")->i, 7);
    cr_assert_eq(rnnck__pk_dict_get(v, "b")->f, 1.5);
    cr_assert_eq(rnnck__pk_dict_get(v, "c")->kind, PK_NONE);
    cr_assert_eq(rnnck__pk_dict_get(v, "d")->i, 1);
    cr_assert_eq(rnnck__pk_dict_get(v, "e")->i, -((int64_t)1 << 40));
    const pk_value *l = rnnck__pk_dict_get(v, "f");
    cr_assert_eq(l->kind, PK_LIST);
    cr_assert_eq(l->n, 3);
    cr_assert_eq(l->items[1]->i, 256);
    cr_assert_eq(l->items[2]->i, -1);
    cr_assert_eq(rnnck__pk_dict_get(v, "g")->i, -2);
    rnnck__pk_machine_free(pm);
}

Test(pickle, decodes_protocol_4_frame_memoize_stack_global) {
    static const char p[] = "\x80\x04\x95\x20\x00\x00\x00\x00\x00\x00\x00\x8c\x0b"
                            "collections\x94\x8c\x0bOrderedDict"
                            "\x94\x93\x94)R\x94\x8c\x01k\x94h\x01s.";
    pk_machine *pm;
    pk_value *v;
    cr_assert_eq(LOAD(p, &pm, &v), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(v->kind, PK_DICT);
    /* h\x01 fetched memo 1, the string "OrderedDict" */
    cr_assert(rnnck__pk_is_str(rnnck__pk_dict_get(v, "k"), "OrderedDict"));
    rnnck__pk_machine_free(pm);
}

Test(pickle, memo_references_share_one_value) {
    static const char p[] = "\x80\x02]q\x00(K\x01"
                            "e]q\x01h\x00h\x00\x86.";
    pk_machine *pm;
    pk_value *v;
    cr_assert_eq(LOAD(p, &pm, &v), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(v->kind, PK_TUPLE);
    cr_assert_eq(v->items[0], v->items[1]);
    rnnck__pk_machine_free(pm);
}

Test(pickle, class_instances_are_inert_records) {
    /* NEWOBJ of __main__.Net then BUILD with its attribute dict; and
     * copyreg._reconstructor(Net, object, None) */
    static const char p[] = "\x80\x02"
                            "c__main__\nNet\n)\x81}X\x01\x00\x00\x00wK\x05sb"
                            "ccopy_reg\n_reconstructor\nc__main__\nNet\nc__builtin__\nobject\nN\x87R\x86.";
    pk_machine *pm;
    pk_value *v;
    cr_assert_eq(LOAD(p, &pm, &v), RNNCK_OK, "%s", rnnck_errmsg());
    const pk_value *a = v->items[0], *b = v->items[1];
    cr_assert_eq(a->kind, PK_OBJECT);
    cr_assert_str_eq(a->cls->s, "__main__");
    cr_assert_str_eq(a->cls->name, "Net");
    cr_assert_eq(rnnck__pk_dict_get(a->state, "w")->i, 5);
    cr_assert_eq(b->kind, PK_OBJECT);
    cr_assert_str_eq(b->cls->name, "Net");
    rnnck__pk_machine_free(pm);
}

Test(pickle, codecs_encode_becomes_bytes) {
    static const char p[] = "\x80\x02"
                            "c_codecs\nencode\nX\x04\x00\x00\x00"
                            "a\xc3\xbf"
                            "bX\x06\x00\x00\x00latin1\x86R.";
    pk_machine *pm;
    pk_value *v;
    cr_assert_eq(LOAD(p, &pm, &v), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(v->kind, PK_BYTES);
    cr_assert_eq(v->len, 3);
    cr_assert_eq((unsigned char)v->s[1], 0xff);
    rnnck__pk_machine_free(pm);
}

static void refused(const char *bytes, size_t len, rnnck_status want, const char *word) {
    pk_machine *pm;
    pk_value *v;
    rnnck_status st = load(bytes, len, &pm, &v);
    cr_assert_eq(st, want, "status %d: %s", st, rnnck_errmsg());
    cr_assert(strstr(rnnck_errmsg(), word), "message lacks '%s': %s", word, rnnck_errmsg());
}
#define REFUSED(lit, want, word) refused(lit, sizeof(lit) - 1, want, word)

Test(pickle, refuses_dangerous_globals_by_name) {
    REFUSED("\x80\x02"
            "cos\nsystem\nX\x02\x00\x00\x00lsR.",
            RNNCK_E_UNSUPPORTED, "os.system");
    REFUSED("\x80\x02"
            "cbuiltins\neval\n.",
            RNNCK_E_UNSUPPORTED, "builtins.eval");
    REFUSED("\x80\x02"
            "c__builtin__\ngetattr\n.",
            RNNCK_E_UNSUPPORTED, "getattr");
    REFUSED("\x80\x02"
            "csubprocess\nPopen\n.",
            RNNCK_E_UNSUPPORTED, "subprocess.Popen");
    REFUSED("\x80\x02"
            "cposix\nsystem\n.",
            RNNCK_E_UNSUPPORTED, "posix.system");
    REFUSED("\x80\x02"
            "ctorch\nload\n.",
            RNNCK_E_UNSUPPORTED, "torch.load");
    REFUSED("\x80\x04\x8c\x02os\x8c\x06system\x93.", RNNCK_E_UNSUPPORTED, "os.system");
    REFUSED("\x80\x02"
            "cos.path\njoin\n.",
            RNNCK_E_UNSUPPORTED, "os.path.join");
    REFUSED("\x80\x02"
            "cmymod\n__init__\n.",
            RNNCK_E_UNSUPPORTED, "__init__");
}

Test(pickle, refuses_reduce_on_anything_not_allowlisted) {
    REFUSED("\x80\x02"
            "c__main__\nEvil\n)R.",
            RNNCK_E_UNSUPPORTED, "__main__.Evil");
    REFUSED("\x80\x02"
            "K\x01)R.",
            RNNCK_E_UNSUPPORTED, "REDUCE on a int");
    REFUSED("\x80\x02"
            "c__builtin__\nobject\n)R.",
            RNNCK_E_UNSUPPORTED, "object");
    REFUSED("\x80\x02"
            "ccollections\nOrderedDict\nK\x01R.",
            RNNCK_E_FORMAT, "non-tuple");
    /* _reconstructor may only make a bare instance */
    REFUSED("\x80\x02"
            "ccopyreg\n_reconstructor\nc__main__\nA\nc__main__\nB\nN\x87R.",
            RNNCK_E_UNSUPPORTED, "_reconstructor");
}

Test(pickle, numpy_reconstruction_is_recorded_not_called) {
    static const char p[] = "\x80\x02"
                            "cnumpy.core.multiarray\nscalar\ncnumpy\ndtype\nX\x02\x00\x00\x00"
                            "f8K\x00K\x01\x87R"
                            "C\x08\x00\x00\x00\x00\x00\x00\xe8?\x86R.";
    pk_machine *pm;
    pk_value *v;
    cr_assert_eq(LOAD(p, &pm, &v), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(v->kind, PK_OBJECT);
    cr_assert_str_eq(v->cls->name, "scalar");
    cr_assert_eq(v->args->n, 2);
    cr_assert_eq(v->args->items[1]->kind, PK_BYTES);
    rnnck__pk_machine_free(pm);
    REFUSED("\x80\x02"
            "cnumpy\nload\n.",
            RNNCK_E_UNSUPPORTED, "numpy.load");
    REFUSED("\x80\x02"
            "cnumpy.testing\nTester\n.",
            RNNCK_E_UNSUPPORTED, "numpy.testing");
}

Test(pickle, refuses_build_on_non_objects) {
    REFUSED("\x80\x02K\x01}b.", RNNCK_E_FORMAT, "BUILD on a int");
    REFUSED("\x80\x02]}b.", RNNCK_E_FORMAT, "BUILD on a list");
    REFUSED("\x80\x02"
            "c__main__\nA\n)\x81}b}b.",
            RNNCK_E_UNSUPPORTED, "twice");
}

Test(pickle, refuses_setitem_and_append_on_wrong_containers) {
    REFUSED("\x80\x02]K\x01K\x02s.", RNNCK_E_FORMAT, "SETITEM on a list");
    REFUSED("\x80\x02)(K\x01K\x02u.", RNNCK_E_FORMAT, "SETITEMS on a tuple");
    REFUSED("\x80\x02}K\x01"
            "a.",
            RNNCK_E_FORMAT, "APPEND on a dict");
    REFUSED("\x80\x02K\x01(K\x02"
            "e.",
            RNNCK_E_FORMAT, "APPENDS on a int");
}

Test(pickle, refuses_memo_abuse) {
    REFUSED("\x80\x02K\x01r\xf0\xff\xff\xff.", RNNCK_E_FORMAT, "larger than the pickle");
    REFUSED("\x80\x02j\x00\x00\x10\x00.", RNNCK_E_FORMAT, "never stored");
    REFUSED("\x80\x02]q\x00h\x00"
            "a.",
            RNNCK_E_FORMAT, "contain itself");
    REFUSED("\x80\x02}q\x00X\x01\x00\x00\x00"
            "ah\x00s.",
            RNNCK_E_FORMAT, "contain itself");
    /* a cycle through two lists */
    REFUSED("\x80\x02]q\x00]q\x01h\x00"
            "ah\x01"
            "a.",
            RNNCK_E_FORMAT, "contain itself");
}

Test(pickle, refuses_deep_nesting) {
    char p[3000];
    size_t n = 0;
    p[n++] = (char)0x80;
    p[n++] = 2;
    for (int i = 0; i < 1000; i++) p[n++] = '(';
    p[n++] = '.';
    refused(p, n, RNNCK_E_UNSUPPORTED, "MARK");
    n = 2;
    for (int i = 0; i < 400; i++) p[n++] = ']';
    for (int i = 0; i < 399; i++) p[n++] = 'a';
    p[n++] = '.';
    refused(p, n, RNNCK_E_UNSUPPORTED, "nested deeper");
}

Test(pickle, refuses_unsupported_opcodes_by_name) {
    REFUSED("\x80\x02(ios\nsystem\n.", RNNCK_E_UNSUPPORTED, "INST");
    REFUSED("\x80\x02(K\x01o.", RNNCK_E_UNSUPPORTED, "OBJ");
    REFUSED("\x80\x02I1\n.", RNNCK_E_UNSUPPORTED, "text-protocol");
    REFUSED("\x80\x02\x82\x01.", RNNCK_E_UNSUPPORTED, "EXT");
    REFUSED("\x80\x02\xff.", RNNCK_E_UNSUPPORTED, "0xff");
    REFUSED("\x80\x09.", RNNCK_E_UNSUPPORTED, "protocol 9");
    REFUSED("\x80\x02Q.", RNNCK_E_FORMAT, "underflow");
    REFUSED("\x80\x02K\x01Q.", RNNCK_E_UNSUPPORTED, "persistent");
    REFUSED("\x80\x02.", RNNCK_E_FORMAT, "underflow");
}

Test(pickle, value_cap_bounds_memory) {
    char p[64];
    size_t n = 0;
    p[n++] = (char)0x80;
    p[n++] = 2;
    for (int i = 0; i < 20; i++) p[n++] = 'N';
    p[n++] = '.';
    pk_hooks hooks = {.max_values = 10};
    pk_machine *pm = NULL;
    pk_value *v;
    cr_assert_eq(rnnck__pk_load((const unsigned char *)p, n, "cap", &hooks, &pm, &v), RNNCK_E_NOMEM);
    cr_assert(strstr(rnnck_errmsg(), "more than 10 values"), "%s", rnnck_errmsg());
    hooks.max_values = 30;
    cr_assert_eq(rnnck__pk_load((const unsigned char *)p, n, "cap", &hooks, &pm, &v), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck__pk_machine_free(pm);
}

Test(pickle, every_truncation_fails_cleanly) {
    static const char p[] = "\x80\x02}(X\x01\x00\x00\x00"
                            "aK\x07X\x01\x00\x00\x00"
                            "bG\x3f\xf8\x00\x00\x00\x00\x00\x00"
                            "X\x01\x00\x00\x00"
                            "f](K\x01M\x00\x01J\xff\xff\xff\xff"
                            "eu.";
    for (size_t len = 0; len + 1 < sizeof p - 1; len++) {
        pk_machine *pm;
        pk_value *v;
        rnnck_status st = load(p, len, &pm, &v);
        cr_assert_neq(st, RNNCK_OK, "prefix of %zu bytes accepted", len);
    }
}

/* Deterministic byte corruption: any outcome but a crash or a leak. */
Test(pickle, corrupted_streams_never_crash) {
    static const char p[] = "\x80\x02"
                            "ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00"
                            "a]q\x00(K\x01K\x02"
                            "eX\x01\x00"
                            "\x00\x00"
                            "bh\x00"
                            "c__main__\nNet\n)\x81}X\x01\x00\x00\x00wK\x05sbu.";
    uint64_t s = 0x9E3779B97F4A7C15ull;
    unsigned char buf[sizeof p];
    for (int round = 0; round < 20000; round++) {
        memcpy(buf, p, sizeof p);
        for (int k = 0; k < 3; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            buf[s % (sizeof p - 1)] = (unsigned char)(s >> 32);
        }
        pk_machine *pm = NULL;
        pk_value *v;
        if (rnnck__pk_load(buf, sizeof p - 1, "fuzz", NULL, &pm, &v) == RNNCK_OK) rnnck__pk_machine_free(pm);
    }
}

/* The same attacks inside real torch archives, through the public API. */
Test(pickle, hostile_archives_are_refused_through_rnnck_open) {
    const struct {
        const char *file;
        rnnck_status want;
        const char *word;
    } cases[] = {
        {"global_os_system.pt", RNNCK_E_UNSUPPORTED, "os.system"},
        {"global_builtins_eval.pt", RNNCK_E_UNSUPPORTED, "builtins.eval"},
        {"global_subprocess_popen.pt", RNNCK_E_UNSUPPORTED, "subprocess.Popen"},
        {"stack_global_posix.pt", RNNCK_E_UNSUPPORTED, "posix.system"},
        {"reduce_class.pt", RNNCK_E_UNSUPPORTED, "__main__.Evil"},
        {"build_on_int.pt", RNNCK_E_FORMAT, "BUILD"},
        {"build_on_list.pt", RNNCK_E_FORMAT, "BUILD"},
        {"deep_marks.pt", RNNCK_E_UNSUPPORTED, "MARK"},
        {"deep_lists.pt", RNNCK_E_UNSUPPORTED, "nested"},
        {"huge_memo.pt", RNNCK_E_FORMAT, "memo"},
        {"memo_undefined.pt", RNNCK_E_FORMAT, "memo"},
        {"memo_recursion.pt", RNNCK_E_FORMAT, "itself"},
        {"dict_recursion.pt", RNNCK_E_FORMAT, "itself"},
        {"setitem_on_list.pt", RNNCK_E_FORMAT, "SETITEM"},
        {"append_on_dict.pt", RNNCK_E_FORMAT, "APPEND"},
        {"inst_opcode.pt", RNNCK_E_UNSUPPORTED, "INST"},
        {"unknown_opcode.pt", RNNCK_E_UNSUPPORTED, "opcode"},
        {"empty_stack_stop.pt", RNNCK_E_FORMAT, "underflow"},
        {"truncated_pickle.pt", RNNCK_E_FORMAT, "truncated"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "pytorch/bad/%s", cases[i].file);
        char *path = fixture_path(rel);
        rnnck_model *m = NULL;
        rnnck_status st = rnnck_open(path, NULL, &m);
        cr_expect_eq(st, cases[i].want, "%s: status %d (%s)", cases[i].file, st, rnnck_errmsg());
        cr_expect_null(m);
        cr_expect(strstr(rnnck_errmsg(), cases[i].word), "%s: message lacks '%s': %s", cases[i].file, cases[i].word,
                  rnnck_errmsg());
        cr_expect(strstr(rnnck_errmsg(), "data.pkl"), "%s: message names the record: %s", cases[i].file,
                  rnnck_errmsg());
        cr_expect_null(strchr(rnnck_errmsg(), '\n'));
        free(path);
    }
}
