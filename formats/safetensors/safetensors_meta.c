/* rnnck's module descriptions in a safetensors "__metadata__" map: every
 * attribute the .h5 schema stores on a module group, as a string, under
 * "rnnck.module.<i>.<attribute>"; read back with every value checked. */
#include "safetensors/safetensors_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum attr {
    A_NAME, A_MODULE, A_INPUT, A_HIDDEN, A_LAYERS, A_PROJ, A_BIAS, A_BIDIR, A_BATCH_FIRST, A_DTYPE, A_GATE_ORDER,
    A_ACTS, A_ALPHA, A_BETA, A_CLIP, A_LBR, A_FORGET_BIAS, A_PEEPHOLES, A_INPUT_FORGET, A_DIRECTION,
    A_OUTPUT_ORDER, A_MERGE_MODE, A_CELL_CLIP, A_PROJ_CLIP, A_COUNT
};
/* Keys every module has: all but the GRU-only one and the LSTM-only ones. */
#define MIN_KEYS (A_COUNT - 6)

static const char *const attr_names[A_COUNT] = {
    "name", "module", "input_size", "hidden_size", "num_layers", "proj_size", "bias", "bidirectional",
    "batch_first", "dtype", "gate_order", "activations", "activation_alpha", "activation_beta", "clip",
    "linear_before_reset", "forget_bias", "peepholes", "input_forget", "direction", "output_order", "merge_mode",
    "cell_clip", "proj_clip"};

/* Which attributes a cell has: the GRU-only and LSTM-only ones, as in the
 * .h5 schema, are absent (and refused) elsewhere. */
static bool applies(enum attr a, rnnck_cell cell) {
    if (a == A_LBR) return cell == RNNCK_CELL_GRU;
    if (a == A_FORGET_BIAS || a == A_PEEPHOLES || a == A_INPUT_FORGET || a == A_CELL_CLIP || a == A_PROJ_CLIP)
        return cell == RNNCK_CELL_LSTM;
    return true;
}

static int used_slots(rnnck_cell cell) { return cell == RNNCK_CELL_LSTM ? 3 : cell == RNNCK_CELL_GRU ? 2 : 1; }

/* ---------------------------------------------------------------- write */

static rnnck_status put(cJSON *md, size_t i, enum attr a, const char *value) {
    char key[96];
    snprintf(key, sizeof key, RNNCK__ST_KEY_MODULE "%zu.%s", i, attr_names[a]);
    return cJSON_AddStringToObject(md, key, value) ? RNNCK_OK : rnnck__oom();
}

static rnnck_status put_int(cJSON *md, size_t i, enum attr a, int64_t v) {
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)v);
    return put(md, i, a, text);
}

/* %.17g: every double prints to text that parses back to the same bits. */
static rnnck_status put_double(cJSON *md, size_t i, enum attr a, double v) {
    char text[40];
    snprintf(text, sizeof text, "%.17g", v);
    return put(md, i, a, text);
}

static rnnck_status write_module(cJSON *md, size_t i, const rnnck_module_info *info) {
    int slots = used_slots(info->cell), dirs = info->bidirectional ? 2 : 1;
    char acts[256] = "", alpha[1024] = "", beta[1024] = "";
    size_t na = 0, nl = 0, nb = 0;
    for (int d = 0; d < dirs; d++)
        for (int s = 0; s < slots; s++) {
            const char *sep = d || s ? "," : "";
            na += (size_t)snprintf(acts + na, sizeof acts - na, "%s%s", sep, rnnck_act_name(info->act[d][s].kind));
            nl += (size_t)snprintf(alpha + nl, sizeof alpha - nl, "%s%.17g", sep, info->act[d][s].alpha);
            nb += (size_t)snprintf(beta + nb, sizeof beta - nb, "%s%.17g", sep, info->act[d][s].beta);
        }
    rnnck_status st;
    if ((st = put(md, i, A_NAME, info->name ? info->name : "")) ||
        (st = put(md, i, A_MODULE, rnnck_cell_name(info->cell))) ||
        (st = put_int(md, i, A_INPUT, info->input_size)) || (st = put_int(md, i, A_HIDDEN, info->hidden_size)) ||
        (st = put_int(md, i, A_LAYERS, info->num_layers)) || (st = put_int(md, i, A_PROJ, info->proj_size)) ||
        (st = put_int(md, i, A_BIAS, info->bias)) || (st = put_int(md, i, A_BIDIR, info->bidirectional)) ||
        (st = put_int(md, i, A_BATCH_FIRST, info->batch_first)) ||
        (st = put(md, i, A_DTYPE, rnnck_dtype_name(info->dtype))) ||
        (st = put(md, i, A_GATE_ORDER, rnnck_cell_gate_order(info->cell))) || (st = put(md, i, A_ACTS, acts)) ||
        (st = put(md, i, A_ALPHA, alpha)) || (st = put(md, i, A_BETA, beta)) ||
        (st = put_double(md, i, A_CLIP, info->clip)))
        return st;
    if (info->cell == RNNCK_CELL_GRU && (st = put_int(md, i, A_LBR, info->linear_before_reset))) return st;
    if (info->cell == RNNCK_CELL_LSTM &&
        ((st = put_double(md, i, A_FORGET_BIAS, info->forget_bias)) ||
         (st = put_int(md, i, A_PEEPHOLES, info->peepholes)) ||
         (st = put_int(md, i, A_INPUT_FORGET, info->input_forget)) ||
         (st = put_double(md, i, A_CELL_CLIP, info->cell_clip)) || (st = put_double(md, i, A_PROJ_CLIP, info->proj_clip))))
        return st;
    if ((st = put(md, i, A_DIRECTION, info->reverse ? "reverse" : "forward")) ||
        (st = put(md, i, A_OUTPUT_ORDER, info->output_reversed ? "processed" : "time")) ||
        (st = put(md, i, A_MERGE_MODE, rnnck_merge_mode_name(info->merge_mode))))
        return st;
    return RNNCK_OK;
}

rnnck_status rnnck__st_meta_write(const rnnck_model *m, cJSON *md) {
    size_t n = rnnck_model_module_count(m);
    char count[32];
    snprintf(count, sizeof count, "%zu", n);
    if (!cJSON_AddStringToObject(md, RNNCK__ST_KEY_SCHEMA, RNNCK_SCHEMA_STRING) ||
        !cJSON_AddStringToObject(md, RNNCK__ST_KEY_MODULES, count))
        return rnnck__oom();
    for (size_t i = 0; i < n; i++) {
        rnnck_status st = write_module(md, i, rnnck_model_module(m, i));
        if (st) return st;
    }
    return RNNCK_OK;
}

/* ----------------------------------------------------------------- read */

typedef struct ctx {
    const char *path;
    size_t module;
    const char *const *vals; /* A_COUNT values of this module, NULL when absent */
} ctx;

static rnnck_status bad(const ctx *c, enum attr a, const char *why) {
    return rnnck__err(RNNCK_E_FORMAT, "%s: __metadata__ " RNNCK__ST_KEY_MODULE "%zu.%s: %s", c->path, c->module,
                      attr_names[a], why);
}

static rnnck_status need(const ctx *c, enum attr a, const char **out) {
    *out = c->vals[a];
    return *out ? RNNCK_OK : bad(c, a, "missing");
}

/* A decimal integer, the whole string: no sign other than '-', no spaces. */
static bool parse_i64(const char *s, int64_t *v) {
    if (!*s || !(*s == '-' || (*s >= '0' && *s <= '9'))) return false;
    errno = 0;
    char *end;
    long long x = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *v = x;
    return true;
}

static bool parse_double(const char *s, double *v) {
    if (!*s || *s == ' ' || *s == '\t' || *s == '\n') return false;
    char *end;
    double x = strtod(s, &end);
    if (*end || !isfinite(x)) return false;
    *v = x;
    return true;
}

static rnnck_status get_int(const ctx *c, enum attr a, int64_t *v) {
    return !c->vals[a] ? bad(c, a, "missing")
           : parse_i64(c->vals[a], v) ? RNNCK_OK : bad(c, a, "not a decimal integer");
}

static rnnck_status get_double(const ctx *c, enum attr a, double *v) {
    return !c->vals[a] ? bad(c, a, "missing")
           : parse_double(c->vals[a], v) ? RNNCK_OK : bad(c, a, "not a finite number");
}

static rnnck_status get_flag(const ctx *c, enum attr a, int *v) {
    const char *s;
    rnnck_status st = need(c, a, &s);
    if (st) return st;
    if (strcmp(s, "0") && strcmp(s, "1")) return bad(c, a, "expected \"0\" or \"1\"");
    *v = s[0] == '1';
    return RNNCK_OK;
}


/* One of `names`: its index into *v. */
static rnnck_status get_choice(const ctx *c, enum attr a, const char *const *names, int n, int *v) {
    const char *s;
    rnnck_status st = need(c, a, &s);
    if (st) return st;
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) {
            *v = i;
            return RNNCK_OK;
        }
    return bad(c, a, "not a value the schema defines");
}

/* A comma-separated list of exactly `want` numbers. */
static rnnck_status get_doubles(const ctx *c, enum attr a, double *out, size_t want) {
    const char *s;
    rnnck_status st = need(c, a, &s);
    if (st) return st;
    char buf[1024];
    if (strlen(s) >= sizeof buf) return bad(c, a, "too long");
    strcpy(buf, s);
    size_t k = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save), k++)
        if (k >= want || !parse_double(tok, &out[k])) return bad(c, a, "not a list of one number per activation");
    return k == want ? RNNCK_OK : bad(c, a, "not a list of one number per activation");
}

static rnnck_status read_acts(const ctx *c, rnnck_module_info *info) {
    int slots = used_slots(info->cell), dirs = info->bidirectional ? 2 : 1;
    size_t want = (size_t)(slots * dirs);
    double alpha[2 * RNNCK_ACT_SLOTS], beta[2 * RNNCK_ACT_SLOTS];
    const char *s;
    rnnck_status st;
    if ((st = get_doubles(c, A_ALPHA, alpha, want)) || (st = get_doubles(c, A_BETA, beta, want)) ||
        (st = need(c, A_ACTS, &s)))
        return st;
    char buf[256];
    if (strlen(s) >= sizeof buf) return bad(c, A_ACTS, "too long");
    strcpy(buf, s);
    size_t k = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save), k++) {
        rnnck_act_kind kind = rnnck_act_from_name(tok);
        if (kind == RNNCK_ACT_COUNT_) return bad(c, A_ACTS, "names an unknown activation");
        if (k >= want) break;
        info->act[k / (size_t)slots][k % (size_t)slots] = (rnnck_activation){kind, alpha[k], beta[k]};
    }
    if (k != want) return bad(c, A_ACTS, "does not list one activation per direction and slot");
    if (dirs == 1) memcpy(info->act[1], info->act[0], sizeof info->act[0]);
    return RNNCK_OK;
}

static rnnck_status read_module(const ctx *c, rnnck_module_info *info) {
    const char *name, *cell_name, *s;
    rnnck_status st;
    if ((st = need(c, A_NAME, &name)) || (st = need(c, A_MODULE, &cell_name))) return st;
    rnnck_cell cell = rnnck_cell_from_name(cell_name);
    if (!cell) return bad(c, A_MODULE, "expected LSTM, GRU, RNN_TANH or RNN_RELU");
    rnnck_module_info_init(info, cell);
    info->name = name;
    for (int a = 0; a < A_COUNT; a++)
        if (c->vals[a] && !applies((enum attr)a, cell)) return bad(c, (enum attr)a, "does not apply to this cell");
    int v = 0;
    if ((st = get_int(c, A_INPUT, &info->input_size)) || (st = get_int(c, A_HIDDEN, &info->hidden_size)) ||
        (st = get_int(c, A_LAYERS, &info->num_layers)) || (st = get_int(c, A_PROJ, &info->proj_size)) ||
        (st = get_flag(c, A_BIAS, &info->bias)) || (st = get_flag(c, A_BIDIR, &info->bidirectional)) ||
        (st = get_flag(c, A_BATCH_FIRST, &info->batch_first)) || (st = need(c, A_DTYPE, &s)))
        return st;
    info->dtype = rnnck_dtype_from_name(s);
    if (!info->dtype) return bad(c, A_DTYPE, "not an rnnck dtype name");
    if ((st = need(c, A_GATE_ORDER, &s))) return st;
    if (strcmp(s, rnnck_cell_gate_order(cell))) return bad(c, A_GATE_ORDER, "not the schema's order for this cell");
    if ((st = read_acts(c, info)) || (st = get_double(c, A_CLIP, &info->clip))) return st;
    if (cell == RNNCK_CELL_GRU && (st = get_flag(c, A_LBR, &info->linear_before_reset))) return st;
    if (cell == RNNCK_CELL_LSTM &&
        ((st = get_double(c, A_FORGET_BIAS, &info->forget_bias)) || (st = get_flag(c, A_PEEPHOLES, &info->peepholes)) ||
         (st = get_flag(c, A_INPUT_FORGET, &info->input_forget))))
        return st;
    /* Schema 1.2's; a file of an earlier rnnck lacks them (0 = none). */
    if (cell == RNNCK_CELL_LSTM &&
        ((c->vals[A_CELL_CLIP] && (st = get_double(c, A_CELL_CLIP, &info->cell_clip))) ||
         (c->vals[A_PROJ_CLIP] && (st = get_double(c, A_PROJ_CLIP, &info->proj_clip)))))
        return st;
    static const char *const dirs[] = {"forward", "reverse"}, *const orders[] = {"time", "processed"};
    static const char *const merges[] = {"concat", "sum", "mul", "ave", "none"};
    if ((st = get_choice(c, A_DIRECTION, dirs, 2, &info->reverse)) ||
        (st = get_choice(c, A_OUTPUT_ORDER, orders, 2, &info->output_reversed)) ||
        (st = get_choice(c, A_MERGE_MODE, merges, 5, &v)))
        return st;
    info->merge_mode = (rnnck_merge_mode)v;
    if (rnnck_module_info_validate(info)) {
        char why[400];
        snprintf(why, sizeof why, "%s", rnnck_errmsg());
        return rnnck__err(RNNCK_E_FORMAT, "%s: __metadata__ " RNNCK__ST_KEY_MODULE "%zu: not a valid module: %s",
                          c->path, c->module, why);
    }
    return RNNCK_OK;
}

static rnnck_status read_schema(const cJSON *md, const char *path, int64_t max_modules, int64_t *count) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, RNNCK__ST_KEY_SCHEMA);
    int major = 0, minor = 0, used = 0;
    if (sscanf(v->valuestring, "%3d.%3d%n", &major, &minor, &used) != 2 || v->valuestring[used] || major < 0 ||
        minor < 0)
        return rnnck__err(RNNCK_E_FORMAT, "%s: __metadata__ " RNNCK__ST_KEY_SCHEMA ": '%.40s' is not MAJOR.MINOR",
                          path, v->valuestring);
    if (major != RNNCK_SCHEMA_MAJOR)
        return rnnck__err(RNNCK_E_UNSUPPORTED,
                          "%s: __metadata__ " RNNCK__ST_KEY_SCHEMA ": schema %d.%d, this rnnck reads %d.x", path, major,
                          minor, RNNCK_SCHEMA_MAJOR);
    v = cJSON_GetObjectItemCaseSensitive(md, RNNCK__ST_KEY_MODULES);
    if (!v) return rnnck__err(RNNCK_E_FORMAT, "%s: __metadata__ " RNNCK__ST_KEY_MODULES ": missing", path);
    if (!parse_i64(v->valuestring, count) || *count < 0 || *count > max_modules)
        return rnnck__err(RNNCK_E_FORMAT, "%s: __metadata__ " RNNCK__ST_KEY_MODULES ": '%.40s' is not a count of 0 to %lld",
                          path, v->valuestring, (long long)max_modules);
    return RNNCK_OK;
}

/* "rnnck.module.<i>.<attr>" into i (no leading zeros) and attr, -1 for an
 * attribute this version does not know (a later minor version's: ignored,
 * as the .h5 schema ignores unknown attributes). */
static bool parse_key(const char *key, size_t *index, int *attr) {
    const char *p = key + strlen(RNNCK__ST_KEY_MODULE);
    size_t i = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 10; p++, digits++) i = i * 10 + (size_t)(*p - '0');
    if (!digits || (digits > 1 && p[-digits] == '0') || *p != '.' || !p[1]) return false;
    *index = i;
    *attr = -1;
    for (int a = 0; a < A_COUNT; a++)
        if (!strcmp(p + 1, attr_names[a])) *attr = a;
    return true;
}

rnnck_status rnnck__st_meta_read(const cJSON *md, const char *path, int64_t max_modules, rnnck_module_info **infos,
                                 size_t *n) {
    int64_t count = 0;
    rnnck_status st = read_schema(md, path, max_modules, &count);
    if (st) return st;
    /* every module has at least MIN_KEYS keys: a count beyond what the
     * map holds cannot be honest, and must not size an allocation */
    if (count > cJSON_GetArraySize(md) / MIN_KEYS)
        return rnnck__err(RNNCK_E_FORMAT, "%s: __metadata__ " RNNCK__ST_KEY_MODULES ": %lld modules, but the map "
                          "holds too few keys to describe them", path, (long long)count);
    const char **vals = calloc((size_t)(count ? count : 1) * A_COUNT, sizeof *vals);
    rnnck_module_info *out = calloc((size_t)(count ? count : 1), sizeof *out);
    if (!vals || !out) st = rnnck__oom();
    for (const cJSON *e = md->child; e && !st; e = e->next) {
        if (strncmp(e->string, RNNCK__ST_KEY_MODULE, strlen(RNNCK__ST_KEY_MODULE))) continue;
        size_t i;
        int a;
        if (!parse_key(e->string, &i, &a))
            st = rnnck__err(RNNCK_E_FORMAT, "%s: __metadata__ %.200s: not rnnck.module.<index>.<attribute>", path,
                            e->string);
        else if (i >= (size_t)count)
            st = rnnck__err(RNNCK_E_FORMAT, "%s: __metadata__ %.200s: module %zu, but " RNNCK__ST_KEY_MODULES
                            " is %lld", path, e->string, i, (long long)count);
        else if (a >= 0)
            vals[i * A_COUNT + (size_t)a] = e->valuestring;
    }
    for (size_t i = 0; i < (size_t)count && !st; i++) {
        ctx c = {path, i, vals + i * A_COUNT};
        st = read_module(&c, &out[i]);
    }
    free(vals);
    if (st) {
        free(out);
        return st;
    }
    *infos = out;
    *n = (size_t)count;
    return RNNCK_OK;
}

/* ---------------------------------------------------------------- order */

rnnck_status rnnck__st_meta_write_order(cJSON *md, const size_t *order, size_t n) {
    size_t k = 0;
    while (k < n && order[k] == k) k++;
    if (k == n) return RNNCK_OK; /* the model's own order: nothing to say */
    char *text = malloc(n * 21 + 1), *p = text;
    if (!text) return rnnck__oom();
    for (k = 0; k < n; k++) p += sprintf(p, "%s%zu", k ? "," : "", order[k]);
    rnnck_status st = cJSON_AddStringToObject(md, RNNCK__ST_KEY_ORDER, text) ? RNNCK_OK : rnnck__oom();
    free(text);
    return st;
}

rnnck_status rnnck__st_meta_read_order(const cJSON *md, const char *path, size_t n, size_t **file_index) {
    *file_index = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, RNNCK__ST_KEY_ORDER);
    if (!v) return RNNCK_OK;
    size_t *inv = malloc((n ? n : 1) * sizeof *inv);
    unsigned char *seen = calloc(n ? n : 1, 1);
    rnnck_status st = inv && seen ? RNNCK_OK : rnnck__oom();
    const char *p = v->valuestring;
    for (size_t k = 0; k < n && !st; k++) {
        size_t pos = 0;
        int digits = 0;
        if (k && *p++ != ',') digits = -1;
        for (; digits >= 0 && *p >= '0' && *p <= '9' && digits < 10; p++, digits++) pos = pos * 10 + (size_t)(*p - '0');
        if (digits <= 0 || (digits > 1 && p[-digits] == '0') || pos >= n || seen[pos])
            st = rnnck__err(RNNCK_E_FORMAT, "%s: __metadata__ " RNNCK__ST_KEY_ORDER ": entry %zu is not a new position "
                            "below the %zu tensors", path, k, n);
        else
            seen[pos] = 1, inv[pos] = k;
    }
    if (!st && *p)
        st = rnnck__err(RNNCK_E_FORMAT, "%s: __metadata__ " RNNCK__ST_KEY_ORDER ": more entries than the %zu tensors",
                        path, n);
    free(seen);
    if (st) {
        free(inv);
        return st;
    }
    *file_index = inv;
    return RNNCK_OK;
}
