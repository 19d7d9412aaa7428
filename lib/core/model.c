/* The in-memory checkpoint: ordered named tensors, module descriptions, and an
 * optional lazy source that supplies tensor bytes on demand. */
#include "core/internal.h"
#include "core/strmap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct module_entry {
    rnnck_module_info info; /* info.name points at name_buf */
    char *name_buf;
} module_entry;

struct rnnck_model {
    rnnck_tensor **tensors;
    size_t ntensors, tensor_cap;
    /* open-addressing hash of tensor names -> index+1 (0 = empty) */
    size_t *slots;
    size_t nslots;
    module_entry *modules;
    size_t nmodules, module_cap;
    rnnck__strmap module_names; /* name -> index: duplicate checks and lookups in O(1) */
    const rnnck_source_ops *src_ops;
    void *src_ctx;
    char **notes; /* what a reader wants said about the model (rnnck_model_note) */
    size_t nnotes;
};

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static rnnck_status rehash(rnnck_model *m, size_t nslots) {
    size_t *slots = calloc(nslots, sizeof *slots);
    if (!slots) return rnnck__oom();
    for (size_t i = 0; i < m->ntensors; i++) {
        size_t j = hash_name(m->tensors[i]->name) & (nslots - 1);
        while (slots[j]) j = (j + 1) & (nslots - 1);
        slots[j] = i + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = nslots;
    return RNNCK_OK;
}

static long find_index(const rnnck_model *m, const char *name) {
    if (!m->nslots) return -1;
    size_t j = hash_name(name) & (m->nslots - 1);
    while (m->slots[j]) {
        if (strcmp(m->tensors[m->slots[j] - 1]->name, name) == 0) return (long)(m->slots[j] - 1);
        j = (j + 1) & (m->nslots - 1);
    }
    return -1;
}

rnnck_status rnnck_model_new(rnnck_model **out) {
    rnnck__err_clear();
    if (!out) return rnnck__err(RNNCK_E_USAGE, "rnnck_model_new: out is NULL");
    rnnck_model *m = calloc(1, sizeof *m);
    if (!m) return rnnck__oom();
    *out = m;
    return RNNCK_OK;
}

void rnnck_model_free(rnnck_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->ntensors; i++) rnnck_tensor_free(m->tensors[i]);
    for (size_t i = 0; i < m->nmodules; i++) free(m->modules[i].name_buf);
    if (m->src_ops && m->src_ops->close) m->src_ops->close(m->src_ctx);
    free(m->tensors);
    free(m->slots);
    free(m->modules);
    rnnck__strmap_free(&m->module_names);
    for (size_t i = 0; i < m->nnotes; i++) free(m->notes[i]);
    free(m->notes);
    free(m);
}

rnnck_status rnnck__model_add_note(rnnck_model *m, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **p = realloc(m->notes, (m->nnotes + 1) * sizeof *p);
    if (!p) return rnnck__oom();
    m->notes = p;
    if (!(p[m->nnotes] = rnnck__strdup(buf))) return rnnck__oom();
    m->nnotes++;
    return RNNCK_OK;
}

size_t rnnck_model_note_count(const rnnck_model *m) { return m ? m->nnotes : 0; }

const char *rnnck_model_note(const rnnck_model *m, size_t i) { return m && i < m->nnotes ? m->notes[i] : NULL; }

/* After a rollback: the map again holds exactly modules[0..nmodules). */
static rnnck_status rebuild_module_names(rnnck_model *m) {
    rnnck__strmap_free(&m->module_names);
    rnnck_status st = rnnck__strmap_init(&m->module_names, m->nmodules, false);
    for (size_t i = 0; i < m->nmodules && !st; i++)
        st = rnnck__strmap_add(&m->module_names, m->modules[i].name_buf, i, NULL);
    return st;
}

void rnnck__model_set_source(rnnck_model *m, const rnnck_source_ops *ops, void *ctx) {
    if (m->src_ops && m->src_ops->close) m->src_ops->close(m->src_ctx);
    m->src_ops = ops;
    m->src_ctx = ctx;
}

void *rnnck__model_source(const rnnck_model *m, const rnnck_source_ops *ops) {
    return m && m->src_ops == ops ? m->src_ctx : NULL;
}

static bool valid_name(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 1024 || name[0] == '.' || name[n - 1] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == '/' || c == 0x7f) return false;
        if (c == '.' && name[i + 1] == '.') return false;
    }
    return true;
}

rnnck_status rnnck__model_add_tensor_ref(rnnck_model *m, const char *name, rnnck_tensor *t) {
    if (!m || !name || !t) return rnnck__err(RNNCK_E_USAGE, "add tensor: NULL argument");
    if (!valid_name(name))
        return rnnck__err(RNNCK_E_USAGE, "tensor name '%.200s' is not a valid dotted name", name);
    if (t->name) return rnnck__err(RNNCK_E_USAGE, "tensor %s already belongs to a model", t->name);
    if (find_index(m, name) >= 0) return rnnck__err(RNNCK_E_USAGE, "duplicate tensor name %s", name);
    if (m->ntensors == m->tensor_cap) {
        size_t cap = m->tensor_cap ? m->tensor_cap * 2 : 16;
        rnnck_tensor **p = realloc(m->tensors, cap * sizeof *p);
        if (!p) return rnnck__oom();
        m->tensors = p;
        m->tensor_cap = cap;
    }
    if ((m->ntensors + 1) * 2 > m->nslots) {
        rnnck_status st = rehash(m, m->nslots ? m->nslots * 2 : 32);
        if (st) return st;
    }
    t->name = rnnck__strdup(name);
    if (!t->name) return rnnck__oom();
    m->tensors[m->ntensors++] = rnnck__tensor_ref(t);
    size_t j = hash_name(name) & (m->nslots - 1);
    while (m->slots[j]) j = (j + 1) & (m->nslots - 1);
    m->slots[j] = m->ntensors;
    return RNNCK_OK;
}

rnnck_status rnnck_model_add_tensor(rnnck_model *m, const char *name, rnnck_tensor *t) {
    rnnck__err_clear();
    return rnnck__model_add_tensor_ref(m, name, t);
}

rnnck_status rnnck__model_add_module_desc(rnnck_model *m, const rnnck_module_info *info) {
    rnnck_status st = rnnck_module_info_validate(info);
    if (st) return st;
    const char *name = info->name ? info->name : "";
    if (*name && !valid_name(name)) return rnnck__err(RNNCK_E_USAGE, "module name '%.200s' is not valid", name);
    if (!m->module_names.nslots && (st = rnnck__strmap_init(&m->module_names, 8, false))) return st;
    if (rnnck__strmap_get(&m->module_names, name, NULL))
        return rnnck__err(RNNCK_E_USAGE, "duplicate module name '%s'", name);
    if (m->nmodules == m->module_cap) {
        size_t cap = m->module_cap ? m->module_cap * 2 : 4;
        module_entry *p = realloc(m->modules, cap * sizeof *p);
        if (!p) return rnnck__oom();
        m->modules = p;
        m->module_cap = cap;
    }
    module_entry *e = &m->modules[m->nmodules];
    e->info = *info;
    e->name_buf = rnnck__strdup(name);
    if (!e->name_buf) return rnnck__oom();
    e->info.name = e->name_buf;
    if ((st = rnnck__strmap_add(&m->module_names, e->name_buf, m->nmodules, NULL))) {
        free(e->name_buf);
        return st;
    }
    m->nmodules++;
    return RNNCK_OK;
}

/* Parameters of one layer/direction, in torch.nn.RNNBase's order. */
static const rnnck_param param_order[] = {
    RNNCK_PARAM_WEIGHT_IH, RNNCK_PARAM_WEIGHT_HH, RNNCK_PARAM_BIAS_IH,
    RNNCK_PARAM_BIAS_HH,   RNNCK_PARAM_WEIGHT_HR, RNNCK_PARAM_PEEPHOLE,
};

rnnck_status rnnck_model_add_module(rnnck_model *m, const rnnck_module_info *info) {
    rnnck__err_clear();
    if (!m || !info) return rnnck__err(RNNCK_E_USAGE, "rnnck_model_add_module: NULL argument");
    rnnck_status st = rnnck__model_add_module_desc(m, info);
    if (st) return st;
    const rnnck_module_info *mi = &m->modules[m->nmodules - 1].info;
    size_t first_tensor = m->ntensors;
    int dirs = mi->bidirectional ? 2 : 1;
    for (int64_t layer = 0; layer < mi->num_layers && !st; layer++)
        for (int d = 0; d < dirs && !st; d++)
            for (size_t k = 0; k < sizeof param_order / sizeof *param_order && !st; k++) {
                int64_t shape[2];
                int nd = rnnck_param_shape(mi, param_order[k], layer, shape);
                if (!nd) continue;
                char name[1200];
                st = rnnck__param_full_name(mi, param_order[k], layer, d, name, sizeof name);
                rnnck_tensor *t = NULL;
                if (!st) st = rnnck_tensor_new(mi->dtype, nd, shape, &t);
                if (!st) st = rnnck__model_add_tensor_ref(m, name, t);
                rnnck_tensor_free(t);
            }
    if (st) { /* roll back: the model is left as it was */
        for (size_t i = first_tensor; i < m->ntensors; i++) rnnck_tensor_free(m->tensors[i]);
        m->ntensors = first_tensor;
        --m->nmodules;
        rnnck_status st2 = rebuild_module_names(m); /* before the name it holds is freed */
        free(m->modules[m->nmodules].name_buf);
        if (!st2) st2 = rehash(m, m->nslots ? m->nslots : 32);
        return st2 ? st2 : st;
    }
    return RNNCK_OK;
}

size_t rnnck_model_module_count(const rnnck_model *m) { return m ? m->nmodules : 0; }
const rnnck_module_info *rnnck_model_module(const rnnck_model *m, size_t i) {
    return (m && i < m->nmodules) ? &m->modules[i].info : NULL;
}
rnnck_status rnnck_model_find_module(const rnnck_model *m, const char *name, size_t *index) {
    rnnck__err_clear();
    if (!m || !name || !index) return rnnck__err(RNNCK_E_USAGE, "rnnck_model_find_module: NULL argument");
    uintptr_t i;
    if (m->module_names.nslots && rnnck__strmap_get(&m->module_names, name, &i)) {
        *index = (size_t)i;
        return RNNCK_OK;
    }
    return rnnck__err(RNNCK_E_NOTFOUND, "no recurrent module named '%s'", name);
}

size_t rnnck_model_tensor_count(const rnnck_model *m) { return m ? m->ntensors : 0; }
rnnck_tensor *rnnck_model_tensor(const rnnck_model *m, size_t i) {
    return (m && i < m->ntensors) ? m->tensors[i] : NULL;
}
rnnck_status rnnck_model_find(const rnnck_model *m, const char *name, rnnck_tensor **out) {
    rnnck__err_clear();
    if (!m || !name || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_model_find: NULL argument");
    long i = find_index(m, name);
    if (i < 0) return rnnck__err(RNNCK_E_NOTFOUND, "no tensor named '%.300s'", name);
    *out = m->tensors[i];
    return RNNCK_OK;
}

rnnck_status rnnck_model_param(const rnnck_model *m, size_t module, rnnck_param kind, int64_t layer, int reverse,
                               rnnck_tensor **out) {
    rnnck__err_clear();
    if (!m || !out || module >= m->nmodules)
        return rnnck__err(RNNCK_E_USAGE, "rnnck_model_param: invalid module index");
    const rnnck_module_info *info = &m->modules[module].info;
    int64_t shape[2];
    if ((unsigned)kind >= RNNCK_PARAM_COUNT_ || layer < 0 || layer >= info->num_layers ||
        (reverse && !info->bidirectional) || !rnnck_param_shape(info, kind, layer, shape))
        return rnnck__err(RNNCK_E_NOTFOUND, "module '%s' has no such parameter (kind %d, layer %lld%s)", info->name,
                          (int)kind, (long long)layer, reverse ? ", reverse" : "");
    char name[1200];
    rnnck_status st = rnnck__param_full_name(info, kind, layer, reverse, name, sizeof name);
    if (st) return st;
    return rnnck_model_find(m, name, out);
}

rnnck_status rnnck_model_gate(const rnnck_model *m, size_t module, rnnck_param kind, int64_t layer, int reverse,
                              char gate, rnnck_tensor **out) {
    rnnck_tensor *p;
    rnnck_status st = rnnck_model_param(m, module, kind, layer, reverse, &p);
    if (st) return st;
    const rnnck_module_info *info = &m->modules[module].info;
    int count, index;
    if (kind == RNNCK_PARAM_PEEPHOLE) {
        const char *pos = gate ? strchr("ifo", gate) : NULL;
        count = 3;
        index = pos ? (int)(pos - "ifo") : -1;
    } else if (kind == RNNCK_PARAM_WEIGHT_HR) {
        return rnnck__err(RNNCK_E_USAGE, "weight_hr has no gate blocks");
    } else {
        count = rnnck_cell_gates(info->cell);
        index = rnnck_cell_gate_index(info->cell, gate);
    }
    if (index < 0)
        return rnnck__err(RNNCK_E_USAGE, "gate '%c' is not one of %s's gates (%s)", gate ? gate : '?',
                          rnnck_cell_name(info->cell),
                          kind == RNNCK_PARAM_PEEPHOLE ? "ifo" : rnnck_cell_gate_order(info->cell));
    if (!rnnck__tensor_loaded(p)) {
        st = rnnck_model_load_tensor((rnnck_model *)m, p);
        if (st) return st;
    }
    return rnnck_tensor_block(p, count, index, out);
}

rnnck_status rnnck_model_load_tensor(rnnck_model *m, rnnck_tensor *t) {
    rnnck__err_clear();
    if (!m || !t) return rnnck__err(RNNCK_E_USAGE, "rnnck_model_load_tensor: NULL argument");
    if (rnnck__tensor_loaded(t)) return RNNCK_OK;
    long i = t->name ? find_index(m, t->name) : -1;
    if (i < 0 || m->tensors[i] != t)
        return rnnck__err(RNNCK_E_USAGE, "tensor %s does not belong to this model", rnnck_tensor_name(t));
    if (!m->src_ops || t->source_key < 0)
        return rnnck__err(RNNCK_E_USAGE, "tensor %s has no data and no source", rnnck_tensor_name(t));
    rnnck_status st = rnnck__tensor_alloc_storage(t);
    if (st) return st;
    st = m->src_ops->read(m->src_ctx, t, t->storage->data, t->storage->nbytes);
    if (!st) rnnck__progress_add(t->storage->nbytes);
    if (st) {
        rnnck_storage *s = t->storage;
        t->storage = NULL;
        free(s->data);
        free(s);
    }
    return st;
}

rnnck_status rnnck__model_locate(rnnck_model *m, const rnnck_tensor *t, rnnck__extent *at) {
    if (!m->src_ops || !m->src_ops->locate || t->source_key < 0 || rnnck__tensor_loaded(t))
        return RNNCK_E_UNSUPPORTED; /* no message: the caller reads instead */
    at->check_due = false;
    rnnck_status st =
        m->src_ops->locate(m->src_ctx, t, &at->fd, &at->offset, m->src_ops->check ? &at->check_due : NULL);
    if (!st) rnnck__progress_add(rnnck_tensor_nbytes(t));
    return st;
}

rnnck_status rnnck__model_copy_extent(rnnck_model *m, const rnnck_tensor *t, const rnnck__extent *at, int out_fd,
                                      uint64_t out_off, uint32_t *crc, const char *label) {
    uint32_t sum = 0;
    bool want_sum = crc || at->check_due;
    rnnck_status st =
        rnnck__copy_range(at->fd, at->offset, out_fd, out_off, rnnck_tensor_nbytes(t), want_sum ? &sum : NULL, label);
    if (!st && at->check_due) st = m->src_ops->check(m->src_ctx, t, sum);
    if (!st && crc) *crc = sum;
    return st;
}

rnnck_status rnnck_model_load_all(rnnck_model *m) {
    rnnck__err_clear();
    if (!m) return rnnck__err(RNNCK_E_USAGE, "rnnck_model_load_all: NULL model");
    for (size_t i = 0; i < m->ntensors; i++) {
        rnnck_status st = rnnck_model_load_tensor(m, m->tensors[i]);
        if (st) return st;
    }
    return RNNCK_OK;
}

rnnck_status rnnck_model_read(rnnck_model *m, const char *name, rnnck_dtype dtype, void *dst, size_t dst_bytes) {
    rnnck_tensor *t;
    rnnck_status st = rnnck_model_find(m, name, &t);
    if (st) return st;
    if (rnnck__tensor_loaded(t)) return rnnck_tensor_copy_out(t, dtype, dst, dst_bytes);
    size_t want = (size_t)rnnck_tensor_numel(t) * rnnck_dtype_size(dtype);
    if (dst_bytes != want || !dst)
        return rnnck__err(RNNCK_E_SHAPE, "destination has %zu bytes, tensor %s needs %zu", dst_bytes, name, want);
    if (dtype == t->dtype) {
        if (!m->src_ops || t->source_key < 0)
            return rnnck__err(RNNCK_E_USAGE, "tensor %s has no data and no source", name);
        st = m->src_ops->read(m->src_ctx, t, dst, dst_bytes);
        if (!st) rnnck__progress_add(dst_bytes);
        return st;
    }
    /* Different dtype: read into a temporary, convert, drop it. */
    st = rnnck_model_load_tensor(m, t);
    if (st) return st;
    st = rnnck_tensor_copy_out(t, dtype, dst, dst_bytes);
    rnnck_storage *s = t->storage;
    t->storage = NULL;
    free(s->data);
    free(s);
    return st;
}
