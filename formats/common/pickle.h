/* A restricted unpickler: it decodes the data torch.save emits and never calls
 * anything. Globals are looked up in an allowlist; classes become inert
 * references; NEWOBJ/BUILD/copyreg._reconstructor only record data. Torch-
 * specific pieces (storages, tensors) are supplied by the caller's hooks. */
#ifndef RNNCK_PICKLE_H
#define RNNCK_PICKLE_H

#include "core/internal.h"

typedef enum pk_kind {
    PK_NONE,
    PK_BOOL,
    PK_INT,
    PK_FLOAT,
    PK_STR, /* text (UTF-8) */
    PK_BYTES,
    PK_TUPLE,
    PK_LIST,
    PK_SET,
    PK_DICT,   /* dict or OrderedDict (insertion order kept) */
    PK_GLOBAL, /* inert reference to module.name */
    PK_OBJECT, /* instance of a class: class reference, NEWOBJ args, BUILD state */
    PK_EXT     /* caller-defined payload (storage, tensor) */
} pk_kind;

typedef enum pk_global_role {
    PK_ROLE_CLASS = 0,     /* inert class reference: NEWOBJ / _reconstructor only */
    PK_ROLE_TYPE,          /* inert data (dtype, storage type, object) */
    PK_ROLE_ORDEREDDICT,   /* collections.OrderedDict */
    PK_ROLE_SET,           /* builtins.set / frozenset */
    PK_ROLE_RECONSTRUCTOR, /* copyreg._reconstructor */
    PK_ROLE_ENCODE,        /* _codecs.encode(str, 'latin1') -> bytes */
    PK_ROLE_IDENTITY,      /* torch.Size(tuple) -> the tuple */
    PK_ROLE_HOOK,          /* handled by the caller's reduce hook */
    PK_ROLE_INERT_CALL     /* REDUCE records (callable, args) as an opaque
                            object without calling it (numpy scalars and
                            arrays that ride along in checkpoint dicts) */
} pk_global_role;

typedef struct pk_value pk_value;
struct pk_value {
    pk_kind kind;
    int depth;     /* nesting depth of the data built so far */
    unsigned mark; /* generation mark for the cycle check */
    int64_t i;     /* BOOL, INT */
    double f;
    char *s; /* STR, BYTES: NUL-terminated copy; module for GLOBAL */
    size_t len;
    char *name;          /* GLOBAL: the attribute name */
    pk_global_role role; /* GLOBAL */
    pk_value **items;    /* TUPLE, LIST, SET; DICT keys */
    pk_value **vals;     /* DICT values */
    size_t n, cap;
    pk_value *cls, *args, *state; /* OBJECT; DICT/EXT state from BUILD */
    void *ext;                    /* EXT */
    void (*ext_free)(void *);
    int ext_tag;
};

typedef struct pk_machine pk_machine;

/* Hooks from the caller. */
typedef struct pk_hooks {
    void *ctx;
    /* BINPERSID: turn the persistent id into a value (via rnnck__pk_new_ext). */
    rnnck_status (*persistent_load)(void *ctx, pk_machine *pm, pk_value *pid, pk_value **out);
    /* REDUCE of a PK_ROLE_HOOK global with its argument tuple. */
    rnnck_status (*reduce)(void *ctx, pk_machine *pm, const pk_value *fn, pk_value *args, pk_value **out);
    /* Role of module.name, or -1 to refuse it. NULL: only the generic set. */
    int (*classify)(void *ctx, const char *module, const char *name);
    /* Most values the stream may create (each costs ~150 bytes); 0 = no cap
     * beyond the unpickler's own, one value per 2 bytes of stream (+4096).
     * Stack slots count against the same cap. */
    uint64_t max_values;
} pk_hooks;

/* Unpickles buf[0..len). `what` names the stream in messages ("x.pt: archive/
 * data.pkl"). On success *root is the result, owned by *pm (free all values at
 * once with rnnck__pk_machine_free). */
rnnck_status rnnck__pk_load(const unsigned char *buf, size_t len, const char *what, const pk_hooks *hooks,
                            pk_machine **pm, pk_value **root);
void rnnck__pk_machine_free(pk_machine *pm);
/* New EXT value owned by the machine; ext_free(payload) runs when it is freed. */
rnnck_status rnnck__pk_new_ext(pk_machine *pm, int tag, void *payload, void (*ext_free)(void *), pk_value **out);
/* Records "<what>: pickle offset N: <message>" and returns st (for hooks). */
rnnck_status rnnck__pk_fail(pk_machine *pm, rnnck_status st, const char *fmt, ...) RNNCK_PRINTF(3, 4);
/* Bytes of the input consumed up to and including STOP (the next pickle of
 * a concatenated stream starts there). */
size_t rnnck__pk_end(const pk_machine *pm);
/* The label given to rnnck__pk_load. */
const char *rnnck__pk_what(const pk_machine *pm);

/* Generic role of a global, or -1 if it is refused (see pickle.c). */
int rnnck__pk_default_role(const char *module, const char *name);

/* Helpers for readers. */
pk_value *rnnck__pk_dict_get(const pk_value *dict, const char *key); /* string keys; NULL if absent */
int rnnck__pk_is_str(const pk_value *v, const char *s);
const char *rnnck__pk_kind_name(pk_kind kind);

#define PK_MAX_DEPTH 200

#endif
