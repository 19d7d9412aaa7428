/* The restricted unpickler (see pickle.h). Every value lives in one arena owned
 * by the machine, so shared and even cyclic references never leak and freeing
 * never recurses. */
#include "common/pickle.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct pk_machine {
    const unsigned char *buf;
    size_t len, pos, op_at;
    char *what;
    const pk_hooks *hooks;
    pk_value **all; /* arena */
    size_t nall, capall;
    pk_value **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    pk_value **memo;
    size_t nmemo, memo_count;
    unsigned gen;
    uint64_t visit_budget; /* work allowed for cycle checks, from the input size */
    uint64_t max_values;   /* values (and stack slots) the stream may create */
};

/* Real torch.save pickles create one value per 2.6 to 6.3 bytes (measured on
 * torch 1.13 state_dicts, modules and protocol-4 files); a value costs about
 * 150 bytes, so a stream of one-byte values must not get one each. */
#define PK_BYTES_PER_VALUE 2
#define PK_VALUES_FLOOR 4096

#define PK_MAX_MARKS 512

#define fail rnnck__pk_fail
rnnck_status rnnck__pk_fail(pk_machine *pm, rnnck_status st, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rnnck__err(st, "%s: pickle offset %zu: %s", pm->what, pm->op_at, msg);
}

const char *rnnck__pk_kind_name(pk_kind kind) {
    static const char *const names[] = {"None", "bool", "int",  "float",  "str",    "bytes",      "tuple",
                                        "list", "set",  "dict", "global", "object", "tensor data"};
    return (unsigned)kind <= PK_EXT ? names[kind] : "?";
}

const char *rnnck__pk_what(const pk_machine *pm) { return pm->what; }
size_t rnnck__pk_end(const pk_machine *pm) { return pm->pos; }

static rnnck_status new_value(pk_machine *pm, pk_kind kind, pk_value **out) {
    if (pm->nall >= pm->max_values)
        return fail(pm, RNNCK_E_NOMEM, "pickle builds more than %llu values", (unsigned long long)pm->max_values);
    if (pm->nall == pm->capall) {
        size_t cap = pm->capall ? pm->capall * 2 : 256;
        pk_value **p = realloc(pm->all, cap * sizeof *p);
        if (!p) return rnnck__oom();
        pm->all = p;
        pm->capall = cap;
    }
    pk_value *v = calloc(1, sizeof *v);
    if (!v) return rnnck__oom();
    v->kind = kind;
    pm->all[pm->nall++] = v;
    *out = v;
    return RNNCK_OK;
}

rnnck_status rnnck__pk_new_ext(pk_machine *pm, int tag, void *payload, void (*ext_free)(void *), pk_value **out) {
    pk_value *v = 0;
    rnnck_status st = new_value(pm, PK_EXT, &v);
    if (st) {
        if (ext_free) ext_free(payload);
        return st;
    }
    v->ext = payload;
    v->ext_free = ext_free;
    v->ext_tag = tag;
    *out = v;
    return RNNCK_OK;
}

void rnnck__pk_machine_free(pk_machine *pm) {
    if (!pm) return;
    for (size_t i = 0; i < pm->nall; i++) {
        pk_value *v = pm->all[i];
        if (v->ext_free) v->ext_free(v->ext);
        free(v->s);
        free(v->name);
        free(v->items);
        free(v->vals);
        free(v);
    }
    free(pm->all);
    free(pm->stack);
    free(pm->marks);
    free(pm->memo);
    free(pm->what);
    free(pm);
}

/* ------------------------------------------------------------ containers */

static bool is_container(const pk_value *v) {
    return v->kind == PK_TUPLE || v->kind == PK_LIST || v->kind == PK_SET || v->kind == PK_DICT ||
           v->kind == PK_OBJECT || (v->kind == PK_EXT && v->state);
}

/* Whether `target` is reachable from `from` (iterative DFS, each node once). */
static rnnck_status reaches(pk_machine *pm, pk_value *from, const pk_value *target, bool *found) {
    *found = false;
    if (!is_container(from)) return RNNCK_OK;
    pm->gen++;
    size_t cap = 64, n = 0;
    pk_value **todo = malloc(cap * sizeof *todo);
    if (!todo) return rnnck__oom();
    todo[n++] = from;
    from->mark = pm->gen;
    rnnck_status st = RNNCK_OK;
    while (n && !*found && !st) {
        pk_value *v = todo[--n];
        if (v == target) {
            *found = true;
            break;
        }
        pk_value *kids[3] = {v->cls, v->args, v->state};
        size_t nk = v->n * (v->kind == PK_DICT ? 2 : 1) + 3;
        /* Every kid looked at costs budget, scalars too: appending one
         * memoised n-item list K times must not cost K*n for free. */
        if (pm->visit_budget < nk) {
            st = fail(pm, RNNCK_E_UNSUPPORTED, "pickle is too complex (shared-structure check budget spent)");
            break;
        }
        pm->visit_budget -= nk;
        for (size_t k = 0; k < nk && !st; k++) {
            pk_value *c = k < 3 ? kids[k] : (k - 3 < v->n ? v->items[k - 3] : v->vals[k - 3 - v->n]);
            if (!c || c->mark == pm->gen || !is_container(c)) continue;
            c->mark = pm->gen;
            if (n == cap) {
                pk_value **p = realloc(todo, cap * 2 * sizeof *p);
                if (!p) {
                    st = rnnck__oom();
                    break;
                }
                todo = p;
                cap *= 2;
            }
            todo[n++] = c;
        }
    }
    free(todo);
    return st;
}

/* Records that `child` now sits inside `parent`; refuses cycles and depth. */
static rnnck_status adopt(pk_machine *pm, pk_value *parent, pk_value *child, bool check_cycle) {
    if (check_cycle && is_container(child)) {
        bool found;
        rnnck_status st = reaches(pm, child, parent, &found);
        if (st) return st;
        if (found)
            return fail(pm, RNNCK_E_FORMAT, "a %s would contain itself (recursive structure)",
                        rnnck__pk_kind_name(parent->kind));
    }
    if (child->depth + 1 > parent->depth) parent->depth = child->depth + 1;
    if (parent->depth > PK_MAX_DEPTH)
        return fail(pm, RNNCK_E_UNSUPPORTED, "data nested deeper than %d levels", PK_MAX_DEPTH);
    return RNNCK_OK;
}

static rnnck_status seq_add(pk_machine *pm, pk_value *seq, pk_value *item, bool check_cycle) {
    rnnck_status st = adopt(pm, seq, item, check_cycle);
    if (st) return st;
    if (seq->n == seq->cap) {
        size_t cap = seq->cap ? seq->cap * 2 : 4;
        pk_value **p = realloc(seq->items, cap * sizeof *p);
        if (!p) return rnnck__oom();
        seq->items = p;
        seq->cap = cap;
    }
    seq->items[seq->n++] = item;
    return RNNCK_OK;
}

static rnnck_status dict_set(pk_machine *pm, pk_value *d, pk_value *key, pk_value *val) {
    rnnck_status st = adopt(pm, d, key, true);
    if (!st) st = adopt(pm, d, val, true);
    if (st) return st;
    /* Entries are appended without a duplicate search (which would make big
     * hostile dicts quadratic); rnnck__pk_dict_get returns the last match, as a
     * Python dict would, and callers refuse duplicate names. */
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        pk_value **k = realloc(d->items, cap * sizeof *k);
        if (!k) return rnnck__oom();
        d->items = k;
        pk_value **v = realloc(d->vals, cap * sizeof *v);
        if (!v) return rnnck__oom();
        d->vals = v;
        d->cap = cap;
    }
    d->items[d->n] = key;
    d->vals[d->n] = val;
    d->n++;
    return RNNCK_OK;
}

pk_value *rnnck__pk_dict_get(const pk_value *dict, const char *key) {
    if (!dict || dict->kind != PK_DICT) return NULL;
    for (size_t i = dict->n; i-- > 0;)
        if (rnnck__pk_is_str(dict->items[i], key)) return dict->vals[i];
    return NULL;
}

int rnnck__pk_is_str(const pk_value *v, const char *s) {
    return v && v->kind == PK_STR && v->len == strlen(s) && memcmp(v->s, s, v->len) == 0;
}

/* ----------------------------------------------------------------- stack */

static rnnck_status push(pk_machine *pm, pk_value *v) {
    /* DUP and BINGET push without creating a value: the stack counts against
     * the same cap, or one byte per slot would grow it 8 bytes at a time. */
    if (pm->sp >= pm->max_values)
        return fail(pm, RNNCK_E_NOMEM, "pickle stack deeper than %llu entries", (unsigned long long)pm->max_values);
    if (pm->sp == pm->scap) {
        size_t cap = pm->scap ? pm->scap * 2 : 64;
        pk_value **p = realloc(pm->stack, cap * sizeof *p);
        if (!p) return rnnck__oom();
        pm->stack = p;
        pm->scap = cap;
    }
    pm->stack[pm->sp++] = v;
    return RNNCK_OK;
}

static size_t mark_base(const pk_machine *pm) { return pm->nmarks ? pm->marks[pm->nmarks - 1] : 0; }

static rnnck_status pop(pk_machine *pm, pk_value **out) {
    if (pm->sp <= mark_base(pm)) return fail(pm, RNNCK_E_FORMAT, "stack underflow");
    *out = pm->stack[--pm->sp];
    return RNNCK_OK;
}

static rnnck_status top(pk_machine *pm, pk_value **out) {
    if (pm->sp <= mark_base(pm)) return fail(pm, RNNCK_E_FORMAT, "stack underflow");
    *out = pm->stack[pm->sp - 1];
    return RNNCK_OK;
}

static rnnck_status pop_mark(pk_machine *pm, size_t *base) {
    if (!pm->nmarks) return fail(pm, RNNCK_E_FORMAT, "no MARK on the stack");
    *base = pm->marks[--pm->nmarks];
    return RNNCK_OK;
}

/* ----------------------------------------------------------------- input */

static rnnck_status need(pk_machine *pm, size_t n) {
    if (n > pm->len - pm->pos) return fail(pm, RNNCK_E_FORMAT, "pickle is truncated");
    return RNNCK_OK;
}

static uint64_t read_le(pk_machine *pm, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)pm->buf[pm->pos + i] << (8 * i);
    pm->pos += (size_t)n;
    return v;
}

static rnnck_status new_int(pk_machine *pm, int64_t i, pk_value **out) {
    rnnck_status st = new_value(pm, PK_INT, out);
    if (!st) (*out)->i = i;
    return st;
}

/* A string/bytes value of length `n` read from the input. */
static rnnck_status read_blob(pk_machine *pm, uint64_t n, pk_kind kind) {
    if (n > pm->len - pm->pos)
        return fail(pm, RNNCK_E_FORMAT, "string of %llu bytes runs past the end", (unsigned long long)n);
    pk_value *v = 0;
    rnnck_status st = new_value(pm, kind, &v);
    if (st) return st;
    v->s = malloc((size_t)n + 1);
    if (!v->s) return rnnck__oom();
    memcpy(v->s, pm->buf + pm->pos, (size_t)n);
    v->s[n] = 0;
    v->len = (size_t)n;
    pm->pos += (size_t)n;
    return push(pm, v);
}

/* ------------------------------------------------------------------- memo */

static rnnck_status memo_put(pk_machine *pm, uint64_t idx) {
    /* A real pickler numbers memo entries from 0 up, one per PUT, so an index
     * can never exceed the stream length; larger ones are hostile. */
    if (idx > pm->len)
        return fail(pm, RNNCK_E_FORMAT, "memo index %llu is larger than the pickle", (unsigned long long)idx);
    pk_value *v = 0;
    rnnck_status st = top(pm, &v);
    if (st) return st;
    if (idx >= pm->nmemo) {
        size_t n = (size_t)idx + 1 > pm->nmemo * 2 ? (size_t)idx + 1 : pm->nmemo * 2;
        pk_value **p = realloc(pm->memo, n * sizeof *p);
        if (!p) return rnnck__oom();
        memset(p + pm->nmemo, 0, (n - pm->nmemo) * sizeof *p);
        pm->memo = p;
        pm->nmemo = n;
    }
    if (!pm->memo[idx]) pm->memo_count++;
    pm->memo[idx] = v;
    return RNNCK_OK;
}

static rnnck_status memo_get(pk_machine *pm, uint64_t idx) {
    if (idx >= pm->nmemo || !pm->memo[idx])
        return fail(pm, RNNCK_E_FORMAT, "memo index %llu was never stored", (unsigned long long)idx);
    return push(pm, pm->memo[idx]);
}

/* ---------------------------------------------------------------- globals */

static bool is_identifier(const char *s, bool dotted) {
    if (!*s) return false;
    bool start = true;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '.' && dotted && !start) {
            start = true;
            continue;
        }
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(c >= '0' && c <= '9' && !start)) return false;
        start = false;
    }
    return !start;
}

static bool module_in(const char *module, const char *const *list) {
    for (; *list; list++) {
        size_t n = strlen(*list);
        if (strncmp(module, *list, n) == 0 && (module[n] == 0 || module[n] == '.')) return true;
    }
    return false;
}

int rnnck__pk_default_role(const char *module, const char *name) {
    /* Modules whose objects can run code or touch the system: refused even
     * as inert references, so a hostile pickle fails at the first sight. */
    static const char *const denied[] = {"os",          "posix",
                                         "nt",          "sys",
                                         "subprocess",  "_posixsubprocess",
                                         "shutil",      "socket",
                                         "importlib",   "runpy",
                                         "pickle",      "_pickle",
                                         "marshal",     "ctypes",
                                         "_ctypes",     "code",
                                         "codeop",      "pty",
                                         "webbrowser",  "types",
                                         "operator",    "functools",
                                         "io",          "_io",
                                         "codecs",      "timeit",
                                         "pdb",         "multiprocessing",
                                         "signal",      "platform",
                                         "commands",    "popen2",
                                         "asyncio",     "tempfile",
                                         "glob",        "pathlib",
                                         "posixpath",   "ntpath",
                                         "threading",   "_thread",
                                         "gc",          "inspect",
                                         "ast",         "dill",
                                         "cloudpickle", "yaml",
                                         "urllib",      "http",
                                         "ftplib",      "smtplib",
                                         "telnetlib",   "select",
                                         "fcntl",       "resource",
                                         "mmap",        "zipimport",
                                         "pkgutil",     "site",
                                         "distutils",   "setuptools",
                                         "pip",         "builtins",
                                         "__builtin__", "copyreg",
                                         "copy_reg",    "_codecs",
                                         "collections", "torch",
                                         "numpy",       "nt",
                                         "bdb",         "trace",
                                         "cProfile",    "profile",
                                         NULL};
    if (!is_identifier(module, true) || !is_identifier(name, false)) return -1;
    if (!strcmp(module, "collections") && !strcmp(name, "OrderedDict")) return PK_ROLE_ORDEREDDICT;
    if (!strcmp(module, "builtins") || !strcmp(module, "__builtin__")) {
        if (!strcmp(name, "set") || !strcmp(name, "frozenset")) return PK_ROLE_SET;
        if (!strcmp(name, "object")) return PK_ROLE_TYPE;
        return -1;
    }
    if ((!strcmp(module, "copyreg") || !strcmp(module, "copy_reg")) && !strcmp(name, "_reconstructor"))
        return PK_ROLE_RECONSTRUCTOR;
    if (!strcmp(module, "_codecs") && !strcmp(name, "encode")) return PK_ROLE_ENCODE;
    /* numpy values in a checkpoint dict ("best_acc": np.float64) are kept as
     * opaque records so that the rest of the file stays readable. */
    if (!strcmp(module, "numpy.core.multiarray") || !strcmp(module, "numpy._core.multiarray"))
        return !strcmp(name, "scalar") || !strcmp(name, "_reconstruct") ? PK_ROLE_INERT_CALL : -1;
    if (!strcmp(module, "numpy")) return !strcmp(name, "dtype") || !strcmp(name, "ndarray") ? PK_ROLE_INERT_CALL : -1;
    if (module_in(module, denied)) return -1;
    if (name[0] == '_' && name[1] == '_') return -1; /* dunder attributes */
    return PK_ROLE_CLASS;
}

static rnnck_status push_global(pk_machine *pm, const char *module, size_t mlen, const char *name, size_t nlen) {
    char mod[256], nm[256];
    if (mlen >= sizeof mod || nlen >= sizeof nm) return fail(pm, RNNCK_E_FORMAT, "global name too long");
    memcpy(mod, module, mlen);
    mod[mlen] = 0;
    memcpy(nm, name, nlen);
    nm[nlen] = 0;
    int role = pm->hooks && pm->hooks->classify ? pm->hooks->classify(pm->hooks->ctx, mod, nm)
                                                : rnnck__pk_default_role(mod, nm);
    if (role < 0)
        return fail(pm, RNNCK_E_UNSUPPORTED, "global %.100s.%.100s is not allowed (nothing is ever imported or called)",
                    mod, nm);
    pk_value *v;
    rnnck_status st = new_value(pm, PK_GLOBAL, &v);
    if (st) return st;
    v->s = rnnck__strdup(mod);
    v->name = rnnck__strdup(nm);
    if (!v->s || !v->name) return rnnck__oom();
    v->role = (pk_global_role)role;
    return push(pm, v);
}

static rnnck_status op_global(pk_machine *pm) {
    const char *p = (const char *)pm->buf + pm->pos;
    size_t rest = pm->len - pm->pos;
    const char *nl1 = memchr(p, '\n', rest < 512 ? rest : 512);
    if (!nl1) return fail(pm, RNNCK_E_FORMAT, "GLOBAL without a module line");
    size_t mlen = (size_t)(nl1 - p);
    const char *q = nl1 + 1;
    size_t rest2 = rest - mlen - 1;
    const char *nl2 = memchr(q, '\n', rest2 < 512 ? rest2 : 512);
    if (!nl2) return fail(pm, RNNCK_E_FORMAT, "GLOBAL without a name line");
    size_t nlen = (size_t)(nl2 - q);
    pm->pos += mlen + nlen + 2;
    return push_global(pm, p, mlen, q, nlen);
}

/* ----------------------------------------------------------- REDUCE & co. */

static char *global_label(const pk_value *g, char *buf, size_t n) {
    snprintf(buf, n, "%.100s.%.100s", g->s, g->name);
    return buf;
}

/* UTF-8 text of code points < 256 into latin-1 bytes (what protocol 2 uses
 * to carry Python 3 bytes objects). */
static rnnck_status latin1_bytes(pk_machine *pm, const pk_value *text, pk_value **out) {
    pk_value *b;
    rnnck_status st = new_value(pm, PK_BYTES, &b);
    if (st) return st;
    b->s = malloc(text->len + 1);
    if (!b->s) return rnnck__oom();
    size_t n = 0;
    for (size_t i = 0; i < text->len; i++) {
        unsigned char c = (unsigned char)text->s[i];
        if (c < 0x80) {
            b->s[n++] = (char)c;
        } else if ((c == 0xC2 || c == 0xC3) && i + 1 < text->len && ((unsigned char)text->s[i + 1] & 0xC0) == 0x80) {
            b->s[n++] = (char)(((c & 0x03) << 6) | ((unsigned char)text->s[i + 1] & 0x3F));
            i++;
        } else {
            return fail(pm, RNNCK_E_FORMAT, "_codecs.encode: text is not latin-1");
        }
    }
    b->s[n] = 0;
    b->len = n;
    *out = b;
    return RNNCK_OK;
}

static rnnck_status op_reduce(pk_machine *pm) {
    pk_value *args = NULL, *fn = NULL, *res = NULL;
    rnnck_status st = pop(pm, &args);
    if (!st) st = pop(pm, &fn);
    if (st) return st;
    if (fn->kind != PK_GLOBAL)
        return fail(pm, RNNCK_E_UNSUPPORTED, "REDUCE on a %s (only allowlisted functions are rebuilt)",
                    rnnck__pk_kind_name(fn->kind));
    char label[220];
    global_label(fn, label, sizeof label);
    if (args->kind != PK_TUPLE) return fail(pm, RNNCK_E_FORMAT, "REDUCE of %s with non-tuple arguments", label);
    switch (fn->role) {
    case PK_ROLE_ORDEREDDICT:
        st = new_value(pm, PK_DICT, &res);
        if (!st && args->n == 1 && args->items[0]->kind == PK_LIST) {
            const pk_value *pairs = args->items[0];
            for (size_t i = 0; i < pairs->n && !st; i++) {
                const pk_value *p = pairs->items[i];
                if (p->kind != PK_TUPLE || p->n != 2) return fail(pm, RNNCK_E_FORMAT, "OrderedDict item is not a pair");
                st = dict_set(pm, res, p->items[0], p->items[1]);
            }
        } else if (!st && args->n != 0) {
            return fail(pm, RNNCK_E_FORMAT, "OrderedDict with unexpected arguments");
        }
        break;
    case PK_ROLE_SET:
        st = new_value(pm, PK_SET, &res);
        if (!st && args->n == 1 && (args->items[0]->kind == PK_LIST || args->items[0]->kind == PK_TUPLE)) {
            for (size_t i = 0; i < args->items[0]->n && !st; i++)
                st = seq_add(pm, res, args->items[0]->items[i], false);
        } else if (!st && args->n != 0) {
            return fail(pm, RNNCK_E_FORMAT, "%s with unexpected arguments", label);
        }
        break;
    case PK_ROLE_RECONSTRUCTOR: {
        /* copyreg._reconstructor(cls, object, None) is object.__new__(cls):
         * record an instance of cls, run nothing. */
        if (args->n != 3 || args->items[0]->kind != PK_GLOBAL || args->items[0]->role != PK_ROLE_CLASS ||
            args->items[1]->kind != PK_GLOBAL || strcmp(args->items[1]->name, "object") != 0 ||
            args->items[2]->kind != PK_NONE)
            return fail(pm, RNNCK_E_UNSUPPORTED,
                        "copyreg._reconstructor with arguments other than (class, object, None)");
        st = new_value(pm, PK_OBJECT, &res);
        if (!st) res->cls = args->items[0];
        break;
    }
    case PK_ROLE_ENCODE:
        if (args->n != 2 || args->items[0]->kind != PK_STR ||
            !(rnnck__pk_is_str(args->items[1], "latin1") || rnnck__pk_is_str(args->items[1], "latin-1")))
            return fail(pm, RNNCK_E_UNSUPPORTED, "_codecs.encode other than (text, 'latin1')");
        st = latin1_bytes(pm, args->items[0], &res);
        break;
    case PK_ROLE_IDENTITY:
        if (args->n != 1 || args->items[0]->kind != PK_TUPLE)
            return fail(pm, RNNCK_E_FORMAT, "%s expects one tuple", label);
        res = args->items[0];
        break;
    case PK_ROLE_INERT_CALL: /* nothing is called: an opaque record of the call */
        st = new_value(pm, PK_OBJECT, &res);
        if (!st) {
            res->cls = fn;
            res->args = args;
            st = adopt(pm, res, args, false);
        }
        break;
    case PK_ROLE_HOOK:
        if (!pm->hooks || !pm->hooks->reduce)
            return fail(pm, RNNCK_E_UNSUPPORTED, "REDUCE of %s is not supported", label);
        st = pm->hooks->reduce(pm->hooks->ctx, pm, fn, args, &res);
        break;
    default: return fail(pm, RNNCK_E_UNSUPPORTED, "REDUCE would call %s, which is not allowlisted", label);
    }
    if (st) return st;
    return push(pm, res);
}

static rnnck_status op_newobj(pk_machine *pm, bool ex) {
    pk_value *kwargs = NULL, *args = NULL, *cls = NULL, *res = NULL;
    rnnck_status st = ex ? pop(pm, &kwargs) : RNNCK_OK;
    if (!st) st = pop(pm, &args);
    if (!st) st = pop(pm, &cls);
    if (st) return st;
    if (kwargs && (kwargs->kind != PK_DICT || kwargs->n))
        return fail(pm, RNNCK_E_UNSUPPORTED, "NEWOBJ_EX with keyword arguments");
    if (cls->kind != PK_GLOBAL) return fail(pm, RNNCK_E_UNSUPPORTED, "NEWOBJ on a %s", rnnck__pk_kind_name(cls->kind));
    if (args->kind != PK_TUPLE) return fail(pm, RNNCK_E_FORMAT, "NEWOBJ with non-tuple arguments");
    if (cls->role == PK_ROLE_ORDEREDDICT && args->n == 0) {
        st = new_value(pm, PK_DICT, &res);
    } else if (cls->role == PK_ROLE_CLASS || cls->role == PK_ROLE_INERT_CALL) {
        st = new_value(pm, PK_OBJECT, &res);
        if (!st) {
            res->cls = cls;
            res->args = args;
            st = adopt(pm, res, args, false);
        }
    } else {
        char label[220];
        return fail(pm, RNNCK_E_UNSUPPORTED, "NEWOBJ of %s, which is not a class",
                    global_label(cls, label, sizeof label));
    }
    if (st) return st;
    return push(pm, res);
}

static rnnck_status op_build(pk_machine *pm) {
    pk_value *state = 0, *target = 0;
    rnnck_status st = pop(pm, &state);
    if (!st) st = top(pm, &target);
    if (st) return st;
    /* Instances record their state; an OrderedDict may carry attributes (the
     * state_dict's _metadata); a tensor may carry Python attributes. */
    if (target->kind != PK_OBJECT && target->kind != PK_DICT && target->kind != PK_EXT)
        return fail(pm, RNNCK_E_FORMAT, "BUILD on a %s (only objects have state)", rnnck__pk_kind_name(target->kind));
    if (target->state)
        return fail(pm, RNNCK_E_UNSUPPORTED, "BUILD applied twice to one %s", rnnck__pk_kind_name(target->kind));
    st = adopt(pm, target, state, true);
    if (st) return st;
    target->state = state;
    return RNNCK_OK;
}

/* --------------------------------------------------------------- the loop */

static rnnck_status from_mark(pk_machine *pm, pk_kind kind) {
    size_t base = 0;
    rnnck_status st = pop_mark(pm, &base);
    if (st) return st;
    pk_value *v;
    st = new_value(pm, kind, &v);
    if (st) return st;
    if (kind == PK_DICT) {
        if ((pm->sp - base) % 2) return fail(pm, RNNCK_E_FORMAT, "DICT with an odd number of items");
        for (size_t i = base; i < pm->sp && !st; i += 2) st = dict_set(pm, v, pm->stack[i], pm->stack[i + 1]);
    } else {
        for (size_t i = base; i < pm->sp && !st; i++) st = seq_add(pm, v, pm->stack[i], false);
    }
    pm->sp = base;
    return st ? st : push(pm, v);
}

static rnnck_status small_tuple(pk_machine *pm, size_t n) {
    if (pm->sp < mark_base(pm) + n) return fail(pm, RNNCK_E_FORMAT, "stack underflow");
    pk_value *v;
    rnnck_status st = new_value(pm, PK_TUPLE, &v);
    for (size_t i = pm->sp - n; i < pm->sp && !st; i++) st = seq_add(pm, v, pm->stack[i], false);
    if (st) return st;
    pm->sp -= n;
    return push(pm, v);
}

static rnnck_status add_items(pk_machine *pm, bool multi, pk_kind want, const char *op) {
    size_t base = 0;
    rnnck_status st = RNNCK_OK;
    if (multi) {
        st = pop_mark(pm, &base);
    } else {
        size_t per = want == PK_DICT ? 2 : 1;
        if (pm->sp < mark_base(pm) + per + 1) return fail(pm, RNNCK_E_FORMAT, "stack underflow");
        base = pm->sp - per;
    }
    if (st) return st;
    if (base == 0 || base - 1 < mark_base(pm) || base > pm->sp)
        return fail(pm, RNNCK_E_FORMAT, "%s without a target", op);
    pk_value *target = pm->stack[base - 1];
    if (target->kind != want) return fail(pm, RNNCK_E_FORMAT, "%s on a %s", op, rnnck__pk_kind_name(target->kind));
    if (want == PK_DICT) {
        if ((pm->sp - base) % 2) return fail(pm, RNNCK_E_FORMAT, "%s with an odd number of items", op);
        for (size_t i = base; i < pm->sp && !st; i += 2) st = dict_set(pm, target, pm->stack[i], pm->stack[i + 1]);
    } else {
        for (size_t i = base; i < pm->sp && !st; i++) st = seq_add(pm, target, pm->stack[i], true);
    }
    pm->sp = base;
    return st;
}

static rnnck_status step(pk_machine *pm, bool *done) {
    rnnck_status st;
    pk_value *v = 0;
    pm->op_at = pm->pos;
    if ((st = need(pm, 1))) return st;
    unsigned char op = pm->buf[pm->pos++];
    switch (op) {
    case 0x80: /* PROTO */
        if ((st = need(pm, 1))) return st;
        if (pm->buf[pm->pos] > 5) return fail(pm, RNNCK_E_UNSUPPORTED, "pickle protocol %u", pm->buf[pm->pos]);
        pm->pos++;
        return RNNCK_OK;
    case 0x95: { /* FRAME: a length prefix only; the data follows inline */
        if ((st = need(pm, 8))) return st;
        uint64_t n = read_le(pm, 8);
        if (n > pm->len - pm->pos)
            return fail(pm, RNNCK_E_FORMAT, "FRAME of %llu bytes runs past the end", (unsigned long long)n);
        return RNNCK_OK;
    }
    case '.': /* STOP */ *done = true; return RNNCK_OK;
    case '(': /* MARK */
        if (pm->nmarks >= PK_MAX_MARKS) return fail(pm, RNNCK_E_UNSUPPORTED, "more than %d nested MARKs", PK_MAX_MARKS);
        if (pm->nmarks == pm->mcap) {
            size_t cap = pm->mcap ? pm->mcap * 2 : 16;
            size_t *p = realloc(pm->marks, cap * sizeof *p);
            if (!p) return rnnck__oom();
            pm->marks = p;
            pm->mcap = cap;
        }
        pm->marks[pm->nmarks++] = pm->sp;
        return RNNCK_OK;
    case '0': return pop(pm, &v);
    case '1': {
        size_t base = 0;
        if ((st = pop_mark(pm, &base))) return st;
        pm->sp = base;
        return RNNCK_OK;
    }
    case '2':
        if ((st = top(pm, &v))) return st;
        return push(pm, v);
    case 'N':
        if ((st = new_value(pm, PK_NONE, &v))) return st;
        return push(pm, v);
    case 0x88:
    case 0x89:
        if ((st = new_value(pm, PK_BOOL, &v))) return st;
        v->i = op == 0x88;
        return push(pm, v);
    case 'J':
        if ((st = need(pm, 4))) return st;
        if ((st = new_int(pm, (int32_t)(uint32_t)read_le(pm, 4), &v))) return st;
        return push(pm, v);
    case 'K':
        if ((st = need(pm, 1))) return st;
        if ((st = new_int(pm, (int64_t)read_le(pm, 1), &v))) return st;
        return push(pm, v);
    case 'M':
        if ((st = need(pm, 2))) return st;
        if ((st = new_int(pm, (int64_t)read_le(pm, 2), &v))) return st;
        return push(pm, v);
    case 0x8a:
    case 0x8b: { /* LONG1, LONG4 */
        int w = op == 0x8a ? 1 : 4;
        if ((st = need(pm, (size_t)w))) return st;
        uint64_t n = read_le(pm, w);
        if (n > 8) return fail(pm, RNNCK_E_UNSUPPORTED, "integer of %llu bytes (over 64 bits)", (unsigned long long)n);
        if ((st = need(pm, (size_t)n))) return st;
        uint64_t u = read_le(pm, (int)n);
        if (n > 0 && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
        int64_t i;
        memcpy(&i, &u, sizeof i);
        if ((st = new_int(pm, i, &v))) return st;
        return push(pm, v);
    }
    case 'G': {
        if ((st = need(pm, 8))) return st;
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = (u << 8) | pm->buf[pm->pos + i];
        pm->pos += 8;
        if ((st = new_value(pm, PK_FLOAT, &v))) return st;
        memcpy(&v->f, &u, sizeof v->f);
        return push(pm, v);
    }
    case 'X':
    case 'T':
        if ((st = need(pm, 4))) return st;
        return read_blob(pm, read_le(pm, 4), PK_STR);
    case 0x8c:
    case 'U':
        if ((st = need(pm, 1))) return st;
        return read_blob(pm, read_le(pm, 1), PK_STR);
    case 0x8d:
        if ((st = need(pm, 8))) return st;
        return read_blob(pm, read_le(pm, 8), PK_STR);
    case 'B':
        if ((st = need(pm, 4))) return st;
        return read_blob(pm, read_le(pm, 4), PK_BYTES);
    case 'C':
        if ((st = need(pm, 1))) return st;
        return read_blob(pm, read_le(pm, 1), PK_BYTES);
    case 0x8e:
        if ((st = need(pm, 8))) return st;
        return read_blob(pm, read_le(pm, 8), PK_BYTES);
    case ')':
        if ((st = new_value(pm, PK_TUPLE, &v))) return st;
        return push(pm, v);
    case 't': return from_mark(pm, PK_TUPLE);
    case 0x85: return small_tuple(pm, 1);
    case 0x86: return small_tuple(pm, 2);
    case 0x87: return small_tuple(pm, 3);
    case ']':
        if ((st = new_value(pm, PK_LIST, &v))) return st;
        return push(pm, v);
    case 'l': return from_mark(pm, PK_LIST);
    case 'a': return add_items(pm, false, PK_LIST, "APPEND");
    case 'e': return add_items(pm, true, PK_LIST, "APPENDS");
    case '}':
        if ((st = new_value(pm, PK_DICT, &v))) return st;
        return push(pm, v);
    case 'd': return from_mark(pm, PK_DICT);
    case 's': return add_items(pm, false, PK_DICT, "SETITEM");
    case 'u': return add_items(pm, true, PK_DICT, "SETITEMS");
    case 0x8f:
        if ((st = new_value(pm, PK_SET, &v))) return st;
        return push(pm, v);
    case 0x90: return add_items(pm, true, PK_SET, "ADDITEMS");
    case 0x91: return from_mark(pm, PK_SET);
    case 'h':
        if ((st = need(pm, 1))) return st;
        return memo_get(pm, read_le(pm, 1));
    case 'j':
        if ((st = need(pm, 4))) return st;
        return memo_get(pm, read_le(pm, 4));
    case 'q':
        if ((st = need(pm, 1))) return st;
        return memo_put(pm, read_le(pm, 1));
    case 'r':
        if ((st = need(pm, 4))) return st;
        return memo_put(pm, read_le(pm, 4));
    case 0x94: return memo_put(pm, pm->memo_count);
    case 'c': return op_global(pm);
    case 0x93: { /* STACK_GLOBAL */
        pk_value *name = 0, *module = 0;
        if ((st = pop(pm, &name)) || (st = pop(pm, &module))) return st;
        if (name->kind != PK_STR || module->kind != PK_STR || strlen(name->s) != name->len ||
            strlen(module->s) != module->len)
            return fail(pm, RNNCK_E_FORMAT, "STACK_GLOBAL needs two plain strings");
        return push_global(pm, module->s, module->len, name->s, name->len);
    }
    case 'R': return op_reduce(pm);
    case 0x81: return op_newobj(pm, false);
    case 0x92: return op_newobj(pm, true);
    case 'b': return op_build(pm);
    case 'Q': {
        pk_value *pid = 0, *res;
        if ((st = pop(pm, &pid))) return st;
        if (!pm->hooks || !pm->hooks->persistent_load)
            return fail(pm, RNNCK_E_UNSUPPORTED, "persistent reference outside a torch archive");
        if ((st = pm->hooks->persistent_load(pm->hooks->ctx, pm, pid, &res))) return st;
        return push(pm, res);
    }
    case 'i':
    case 'o':
        return fail(pm, RNNCK_E_UNSUPPORTED, "opcode %s (builds objects by calling classes) is refused",
                    op == 'i' ? "INST" : "OBJ");
    case 'P':
    case 'I':
    case 'L':
    case 'F':
    case 'S':
    case 'V':
    case 'g':
    case 'p':
        return fail(pm, RNNCK_E_UNSUPPORTED,
                    "text-protocol opcode '%c' is not supported (torch.save writes protocol 2)", op);
    case 0x82:
    case 0x83:
    case 0x84: return fail(pm, RNNCK_E_UNSUPPORTED, "extension-registry opcode EXT is refused");
    default: return fail(pm, RNNCK_E_UNSUPPORTED, "unsupported pickle opcode 0x%02x", op);
    }
}

rnnck_status rnnck__pk_load(const unsigned char *buf, size_t len, const char *what, const pk_hooks *hooks,
                            pk_machine **pmp, pk_value **root) {
    pk_machine *pm = calloc(1, sizeof *pm);
    if (!pm) return rnnck__oom();
    pm->what = rnnck__strdup(what ? what : "pickle");
    if (!pm->what) {
        free(pm);
        return rnnck__oom();
    }
    pm->buf = buf;
    pm->len = len;
    pm->hooks = hooks;
    pm->visit_budget = (uint64_t)len * 64 + 1000000;
    pm->max_values = (uint64_t)len / PK_BYTES_PER_VALUE + PK_VALUES_FLOOR;
    if (hooks && hooks->max_values && hooks->max_values < pm->max_values) pm->max_values = hooks->max_values;
    bool done = false;
    rnnck_status st = RNNCK_OK;
    while (!done && !st) st = step(pm, &done);
    pk_value *v = NULL;
    if (!st) st = pop(pm, &v);
    if (st) {
        rnnck__pk_machine_free(pm);
        return st;
    }
    *pmp = pm;
    *root = v;
    return RNNCK_OK;
}
