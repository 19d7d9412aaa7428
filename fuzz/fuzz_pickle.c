/* Fuzz target: the restricted unpickler (formats/common/pickle.h) on arbitrary
 * bytes, three ways: with no hooks, with the torch classifier only, and with
 * the full torch hooks followed by the state_dict walk and model build (as
 * the legacy reader runs them, with no archive behind the storages). A
 * decoded value tree must be well formed: known kinds, NUL-terminated strings,
 * consistent counts, and no path deeper than PK_MAX_DEPTH. */
#include "fuzz_common.h"

#include "pytorch/pytorch_internal.h"

#include <string.h>

/* These are internal calls: the one-line message rule is enforced where the
 * public API returns (rnnck_open), so only status and message are checked. */
static void internal_failure(rnnck_status st, const void *out) {
    FZ_REQUIRE(st < 0 && out == NULL && rnnck_errmsg()[0], "failure %d without a message or with output", (int)st);
}

typedef struct walk {
    uint64_t budget; /* shared subtrees make a DAG: bound the work */
} walk;

static void check_value(walk *w, const pk_value *v, int depth) {
    if (!v || w->budget == 0) return;
    w->budget--;
    FZ_REQUIRE(depth <= PK_MAX_DEPTH + 1, "value nested %d deep, over PK_MAX_DEPTH", depth);
    FZ_REQUIRE(v->kind >= PK_NONE && v->kind <= PK_EXT, "unknown kind %d", (int)v->kind);
    switch (v->kind) {
    case PK_STR:
    case PK_BYTES:
        FZ_REQUIRE(v->s != NULL && v->s[v->len] == '\0', "%s without a NUL-terminated copy",
                   rnnck__pk_kind_name(v->kind));
        if (v->kind == PK_STR) FZ_REQUIRE(strlen(v->s) <= v->len, "string longer than its length");
        break;
    case PK_GLOBAL: FZ_REQUIRE(v->s && v->name, "global without module or name"); break;
    case PK_TUPLE:
    case PK_LIST:
    case PK_SET:
    case PK_DICT:
        FZ_REQUIRE(v->n <= v->cap || (v->kind == PK_TUPLE && v->cap == 0), "%zu items in room for %zu", v->n,
                   v->cap);
        FZ_REQUIRE(v->n == 0 || v->items, "%zu items without an array", v->n);
        if (v->kind == PK_DICT) FZ_REQUIRE(v->n == 0 || v->vals, "dict without values");
        for (size_t i = 0; i < v->n; i++) {
            FZ_REQUIRE(v->items[i] != NULL, "NULL item %zu", i);
            check_value(w, v->items[i], depth + 1);
            if (v->kind == PK_DICT) {
                FZ_REQUIRE(v->vals[i] != NULL, "NULL dict value %zu", i);
                check_value(w, v->vals[i], depth + 1);
            }
        }
        break;
    default: break;
    }
    check_value(w, v->cls, depth + 1);
    check_value(w, v->args, depth + 1);
    check_value(w, v->state, depth + 1);
}

static void load_and_check(const uint8_t *data, size_t size, const pk_hooks *hooks) {
    pk_machine *pm = NULL;
    pk_value *root = NULL;
    rnnck_status st = rnnck__pk_load(data, size, "fuzz.pkl", hooks, &pm, &root);
    if (st) {
        internal_failure(st, NULL);
        rnnck__pk_machine_free(pm); /* NULL-safe; a failed load leaves nothing to free */
        return;
    }
    FZ_REQUIRE(pm && root, "success without a machine or a root");
    FZ_REQUIRE(rnnck__pk_end(pm) > 0 && rnnck__pk_end(pm) <= size, "end offset %zu of %zu", rnnck__pk_end(pm),
               size);
    walk w = {.budget = 1u << 20};
    check_value(&w, root, 0);
    rnnck__pk_machine_free(pm);
}

/* The torch hooks with no archive: what the legacy reader does once its
 * storages are known (here none are, so persistent ids must be refused). */
static void torch_pass(const uint8_t *data, size_t size) {
    pt_reader r = {.path = "fuzz.pkl"};
    rnnck_limits_init(&r.lim);
    pk_hooks hooks = {.ctx = &r,
                      .persistent_load = rnnck__pt_persistent_load,
                      .reduce = rnnck__pt_reduce,
                      .classify = rnnck__pt_classify,
                      .max_values = PT_MAX_VALUES(&r)};
    pk_machine *pm = NULL;
    pk_value *root = NULL;
    rnnck_status st = rnnck__pk_load(data, size, "fuzz.pkl", &hooks, &pm, &root);
    rnnck__sd sd;
    rnnck__sd_init_for(&sd, NULL, "fuzz");
    rnnck_model *m = NULL;
    if (!st) {
        walk w = {.budget = 1u << 20};
        check_value(&w, root, 0);
        st = rnnck__pt_collect(&sd, root, NULL, "fuzz.pkl");
    }
    if (!st) st = rnnck__sd_build(&sd, "fuzz.pkl", NULL, &m);
    if (st)
        internal_failure(st, m);
    else
        fz_check_model(m);
    rnnck_model_free(m);
    rnnck__sd_free(&sd);
    rnnck__pk_machine_free(pm);
    rnnck__pt_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    load_and_check(data, size, NULL);
    pk_hooks classify_only = {.classify = rnnck__pt_classify, .max_values = 1000000};
    load_and_check(data, size, &classify_only);
    torch_pass(data, size);
    return 0;
}
