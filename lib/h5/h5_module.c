/* The attributes that describe a recurrent module on its group: read with
 * every problem reported, written in one fixed order. */
#include "h5/h5_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int used_slots(rnnck_cell cell) { return cell == RNNCK_CELL_LSTM ? 3 : cell == RNNCK_CELL_GRU ? 2 : 1; }

typedef struct reader {
    rnnck__h5_file *f;
    hid_t group;
    const char *object;
    bool bad;
} reader;

/* Records a failed check; returns non-OK only when the walk must stop. */
static rnnck_status problem(reader *r, rnnck_status st) {
    if (!st) return RNNCK_OK;
    r->bad = true;
    return rnnck__h5_problem(r->f, st);
}

static rnnck_status missing(reader *r, const char *name) {
    return problem(r, rnnck__h5_fail(r->f, RNNCK_E_FORMAT, r->object, "missing attribute %s", name));
}

static rnnck_status need_int(reader *r, const char *name, int64_t *v, bool *got) {
    bool present = false;
    *got = false;
    rnnck_status st = rnnck__h5_attr_int(r->f, r->group, r->object, name, v, &present);
    if (st) return problem(r, st);
    if (!present) return missing(r, name);
    *got = true;
    return RNNCK_OK;
}

static rnnck_status need_flag(reader *r, const char *name, int *v) {
    int64_t x = 0;
    bool got;
    rnnck_status st = need_int(r, name, &x, &got);
    if (st || !got) return st;
    if (x != 0 && x != 1)
        return problem(r, rnnck__h5_fail(r->f, RNNCK_E_FORMAT, r->object, "attribute %s is %lld, expected 0 or 1", name,
                                         (long long)x));
    *v = (int)x;
    return RNNCK_OK;
}

static rnnck_status need_double(reader *r, const char *name, double *v) {
    bool present = false;
    rnnck_status st = rnnck__h5_attr_double(r->f, r->group, r->object, name, v, &present);
    if (st) return problem(r, st);
    return present ? RNNCK_OK : missing(r, name);
}

static rnnck_status need_string(reader *r, const char *name, char *buf, size_t size, bool *got) {
    bool present = false;
    *got = false;
    rnnck_status st = rnnck__h5_attr_string(r->f, r->group, r->object, name, buf, size, &present);
    if (st) return problem(r, st);
    if (!present) return missing(r, name);
    *got = true;
    return RNNCK_OK;
}

/* An attribute the cell does not have must not be there: it would carry
 * semantics this module cannot honour. */
static rnnck_status forbid(reader *r, const char *name, rnnck_cell cell) {
    htri_t e = H5Aexists(r->group, name);
    if (e == 0) return RNNCK_OK;
    return problem(r, rnnck__h5_fail(r->f, RNNCK_E_FORMAT, r->object, "attribute %s does not apply to %s", name,
                                     rnnck_cell_name(cell)));
}

/* activations / activation_alpha / activation_beta: D*slots entries. */
static rnnck_status read_activations(reader *r, rnnck_module_info *info) {
    int slots = used_slots(info->cell), dirs = info->bidirectional ? 2 : 1;
    size_t want = (size_t)(slots * dirs);
    char list[512];
    bool got;
    double alpha[RNNCK__H5_MAX_ACT], beta[RNNCK__H5_MAX_ACT];
    size_t na = 0, nb = 0;
    bool pa = false, pb = false;
    rnnck_status st = need_string(r, "activations", list, sizeof list, &got);
    if (st) return st;
    if ((st =
             rnnck__h5_attr_doubles(r->f, r->group, r->object, "activation_alpha", alpha, RNNCK__H5_MAX_ACT, &na, &pa)))
        return problem(r, st);
    if (!pa && (st = missing(r, "activation_alpha"))) return st;
    if ((st = rnnck__h5_attr_doubles(r->f, r->group, r->object, "activation_beta", beta, RNNCK__H5_MAX_ACT, &nb, &pb)))
        return problem(r, st);
    if (!pb && (st = missing(r, "activation_beta"))) return st;
    if (!got || !pa || !pb) return RNNCK_OK;
    if (na != want || nb != want)
        return problem(r, rnnck__h5_fail(r->f, RNNCK_E_FORMAT, r->object,
                                         "activation_alpha/activation_beta have %zu/%zu values, expected %zu", na, nb,
                                         want));
    size_t k = 0;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save), k++) {
        rnnck_act_kind kind = rnnck_act_from_name(tok);
        if (kind == RNNCK_ACT_COUNT_)
            return problem(
                r, rnnck__h5_fail(r->f, RNNCK_E_FORMAT, r->object, "activations: unknown activation '%.40s'", tok));
        if (k >= want) {
            k++; /* one too many is enough to tell */
            break;
        }
        rnnck_activation a = {kind, alpha[k], beta[k]};
        info->act[k / (size_t)slots][k % (size_t)slots] = a;
    }
    if (k != want)
        return problem(r, rnnck__h5_fail(r->f, RNNCK_E_FORMAT, r->object,
                                         "activations lists %s%zu names, expected %zu (%d direction(s) x %d slots)",
                                         k > want ? "more than " : "", k, want, dirs, slots));
    if (dirs == 1) memcpy(info->act[1], info->act[0], sizeof info->act[0]);
    return RNNCK_OK;
}

/* An optional string attribute of schema 1.1 naming one of `names` (count n):
 * absent leaves *v alone; an unknown value is refused, listing the known. */
static rnnck_status optional_choice(reader *r, const char *name, const char *const *names, int n, int *v,
                                    bool *present) {
    char text[32] = "";
    *present = false;
    rnnck_status st = rnnck__h5_attr_string(r->f, r->group, r->object, name, text, sizeof text, present);
    if (st) return problem(r, st);
    if (!*present) return RNNCK_OK;
    for (int i = 0; i < n; i++)
        if (strcmp(text, names[i]) == 0) {
            *v = i;
            return RNNCK_OK;
        }
    char known[128] = "";
    for (int i = 0, used = 0; i < n; i++)
        used += snprintf(known + used, sizeof known - (size_t)used, "%s%s", i ? ", " : "", names[i]);
    *present = false;
    return problem(r, rnnck__h5_fail(r->f, RNNCK_E_FORMAT, r->object,
                                     "attribute %s is '%s', which schema 1.1 does not define (expected %s)", name, text,
                                     known));
}

/* Schema 1.1: direction ("forward" | "reverse"), output_order ("time" |
 * "processed"), merge_mode ("concat" | "sum" | "mul" | "ave" | "none"); each
 * optional, absent meaning the 1.0 behaviour. */
static rnnck_status read_v11(reader *r, rnnck_module_info *info) {
    static const char *const dirs[] = {"forward", "reverse"};
    static const char *const orders[] = {"time", "processed"};
    static const char *const merges[] = {"concat", "sum", "mul", "ave", "none"};
    bool got;
    int v = 0;
    rnnck_status st = optional_choice(r, "direction", dirs, 2, &v, &got);
    if (st) return st;
    if (got) info->reverse = v;
    v = 0;
    if ((st = optional_choice(r, "output_order", orders, 2, &v, &got))) return st;
    if (got) info->output_reversed = v;
    if (got && !info->reverse)
        return problem(r, rnnck__h5_fail(r->f, RNNCK_E_FORMAT, r->object,
                                         "attribute output_order applies only with direction 'reverse'"));
    v = 0;
    if ((st = optional_choice(r, "merge_mode", merges, 5, &v, &got))) return st;
    if (got) info->merge_mode = (rnnck_merge_mode)v;
    if (got && !info->bidirectional)
        return problem(r, rnnck__h5_fail(r->f, RNNCK_E_FORMAT, r->object,
                                         "attribute merge_mode applies to bidirectional modules only"));
    if (info->reverse && info->bidirectional)
        return problem(r, rnnck__h5_fail(r->f, RNNCK_E_FORMAT, r->object,
                                         "attribute direction 'reverse' contradicts bidirectional = 1"));
    return RNNCK_OK;
}

/* Schema 1.2: cell_clip and proj_clip, optional float attributes of an LSTM
 * (absent = 0 = none); their range is rnnck_module_info_validate's. */
static rnnck_status read_v12(reader *r, rnnck_module_info *info) {
    static const char *const names[] = {"cell_clip", "proj_clip"};
    double *vals[] = {&info->cell_clip, &info->proj_clip};
    for (int i = 0; i < 2; i++) {
        if (info->cell != RNNCK_CELL_LSTM) {
            rnnck_status st = forbid(r, names[i], info->cell);
            if (st) return st;
            continue;
        }
        bool present = false;
        rnnck_status st = rnnck__h5_attr_double(r->f, r->group, r->object, names[i], vals[i], &present);
        if (st) return problem(r, st);
    }
    return RNNCK_OK;
}

int rnnck__h5_module_minor(const rnnck_module_info *info) {
    if (info->cell_clip > 0 || info->proj_clip > 0) return 2;
    return info->reverse || info->output_reversed || info->merge_mode != RNNCK_MERGE_CONCAT;
}

rnnck_status rnnck__h5_read_module(rnnck__h5_file *f, hid_t group, const char *object, const char *module_name,
                                   rnnck_module_info *info, bool *ok) {
    reader r = {f, group, object, false};
    char cell_name[32] = "", order[32] = "";
    bool got_cell, got_order;
    rnnck_status st = need_string(&r, "module", cell_name, sizeof cell_name, &got_cell);
    if (st) return st;
    rnnck_cell cell = got_cell ? rnnck_cell_from_name(cell_name) : RNNCK_CELL_INVALID;
    if (got_cell && cell == RNNCK_CELL_INVALID &&
        (st = problem(&r,
                      rnnck__h5_fail(f, RNNCK_E_FORMAT, object,
                                     "attribute module is '%s', expected LSTM, GRU, RNN_TANH or RNN_RELU", cell_name))))
        return st;
    rnnck_module_info_init(info, cell == RNNCK_CELL_INVALID ? RNNCK_CELL_LSTM : cell);
    info->cell = cell;
    info->name = module_name;
    bool got;
    if ((st = need_int(&r, "input_size", &info->input_size, &got))) return st;
    if ((st = need_int(&r, "hidden_size", &info->hidden_size, &got))) return st;
    if ((st = need_int(&r, "num_layers", &info->num_layers, &got))) return st;
    if ((st = need_int(&r, "proj_size", &info->proj_size, &got))) return st;
    if ((st = need_flag(&r, "bias", &info->bias))) return st;
    info->bidirectional = -1; /* stays -1 if unreadable */
    if ((st = need_flag(&r, "bidirectional", &info->bidirectional))) return st;
    bool dirs_known = info->bidirectional >= 0;
    if (!dirs_known) info->bidirectional = 0;
    if ((st = need_flag(&r, "batch_first", &info->batch_first))) return st;
    if ((st = need_double(&r, "clip", &info->clip))) return st;
    if ((st = need_string(&r, "gate_order", order, sizeof order, &got_order))) return st;
    if (cell == RNNCK_CELL_INVALID) { /* the rest depends on the cell */
        *ok = false;
        return RNNCK_OK;
    }
    if (got_order && strcmp(order, rnnck_cell_gate_order(cell)) != 0 &&
        (st = problem(&r, rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "gate_order is '%s', schema 1 requires '%s' for %s",
                                         order, rnnck_cell_gate_order(cell), cell_name))))
        return st;
    /* Without the direction count the activation list cannot be judged:
     * reporting it too would only echo the bidirectional problem. */
    if (dirs_known && (st = read_activations(&r, info))) return st;
    if (cell == RNNCK_CELL_GRU) {
        if ((st = need_flag(&r, "linear_before_reset", &info->linear_before_reset))) return st;
    } else if ((st = forbid(&r, "linear_before_reset", cell))) {
        return st;
    }
    if (cell == RNNCK_CELL_LSTM) {
        if ((st = need_double(&r, "forget_bias", &info->forget_bias))) return st;
        if ((st = need_flag(&r, "peepholes", &info->peepholes))) return st;
        if ((st = need_flag(&r, "input_forget", &info->input_forget))) return st;
    } else {
        if ((st = forbid(&r, "forget_bias", cell)) || (st = forbid(&r, "peepholes", cell)) ||
            (st = forbid(&r, "input_forget", cell)))
            return st;
    }
    if (dirs_known && (st = read_v11(&r, info))) return st;
    if ((st = read_v12(&r, info))) return st;
    if (!r.bad) {
        st = rnnck_module_info_validate(info);
        if (st) {
            char why[600];
            snprintf(why, sizeof why, "%s", rnnck_errmsg());
            st = problem(&r, rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "attributes out of range: %s", why));
            if (st) return st;
        }
    }
    *ok = !r.bad;
    return RNNCK_OK;
}

rnnck_status rnnck__h5_write_module(hid_t g, const rnnck_module_info *info) {
    int slots = used_slots(info->cell), dirs = info->bidirectional ? 2 : 1;
    char acts[512] = "";
    double alpha[RNNCK__H5_MAX_ACT], beta[RNNCK__H5_MAX_ACT];
    size_t n = 0, used = 0;
    for (int d = 0; d < dirs; d++)
        for (int s = 0; s < slots; s++, n++) {
            used += (size_t)snprintf(acts + used, sizeof acts - used, "%s%s", n ? "," : "",
                                     rnnck_act_name(info->act[d][s].kind));
            alpha[n] = info->act[d][s].alpha;
            beta[n] = info->act[d][s].beta;
        }
    rnnck_status st;
    if ((st = rnnck__h5_write_attr_string(g, "module", rnnck_cell_name(info->cell))) ||
        (st = rnnck__h5_write_attr_i64(g, "input_size", info->input_size)) ||
        (st = rnnck__h5_write_attr_i64(g, "hidden_size", info->hidden_size)) ||
        (st = rnnck__h5_write_attr_i64(g, "num_layers", info->num_layers)) ||
        (st = rnnck__h5_write_attr_i64(g, "proj_size", info->proj_size)) ||
        (st = rnnck__h5_write_attr_i8(g, "bias", info->bias)) ||
        (st = rnnck__h5_write_attr_i8(g, "bidirectional", info->bidirectional)) ||
        (st = rnnck__h5_write_attr_i8(g, "batch_first", info->batch_first)) ||
        (st = rnnck__h5_write_attr_string(g, "gate_order", rnnck_cell_gate_order(info->cell))) ||
        (st = rnnck__h5_write_attr_string(g, "activations", acts)) ||
        (st = rnnck__h5_write_attr_f64s(g, "activation_alpha", alpha, n)) ||
        (st = rnnck__h5_write_attr_f64s(g, "activation_beta", beta, n)) ||
        (st = rnnck__h5_write_attr_f64(g, "clip", info->clip)))
        return st;
    if (info->cell == RNNCK_CELL_GRU &&
        (st = rnnck__h5_write_attr_i8(g, "linear_before_reset", info->linear_before_reset)))
        return st;
    if (info->cell == RNNCK_CELL_LSTM && ((st = rnnck__h5_write_attr_f64(g, "forget_bias", info->forget_bias)) ||
                                          (st = rnnck__h5_write_attr_i8(g, "peepholes", info->peepholes)) ||
                                          (st = rnnck__h5_write_attr_i8(g, "input_forget", info->input_forget))))
        return st;
    /* Schema 1.1 attributes, only where they say something 1.0 cannot. */
    if (info->reverse && (st = rnnck__h5_write_attr_string(g, "direction", "reverse"))) return st;
    if (info->output_reversed && (st = rnnck__h5_write_attr_string(g, "output_order", "processed"))) return st;
    if (info->merge_mode != RNNCK_MERGE_CONCAT &&
        (st = rnnck__h5_write_attr_string(g, "merge_mode", rnnck_merge_mode_name(info->merge_mode))))
        return st;
    /* Schema 1.2 attributes, likewise only when set. */
    if (info->cell_clip > 0 && (st = rnnck__h5_write_attr_f64(g, "cell_clip", info->cell_clip))) return st;
    if (info->proj_clip > 0 && (st = rnnck__h5_write_attr_f64(g, "proj_clip", info->proj_clip))) return st;
    return RNNCK_OK;
}
