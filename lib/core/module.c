/* Recurrent-module descriptions: cells, gate orders, activations, parameter
 * names and shapes exactly as torch.nn.RNNBase lays them out. */
#include "core/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
    rnnck_cell cell;
    const char *name;
    int gates;
    const char *order;
} cell_table[] = {
    {RNNCK_CELL_LSTM, "LSTM", 4, "ifgo"},
    {RNNCK_CELL_GRU, "GRU", 3, "rzn"},
    {RNNCK_CELL_RNN_TANH, "RNN_TANH", 1, "h"},
    {RNNCK_CELL_RNN_RELU, "RNN_RELU", 1, "h"},
};
#define NCELLS (sizeof cell_table / sizeof cell_table[0])

const char *rnnck_cell_name(rnnck_cell cell) {
    for (size_t i = 0; i < NCELLS; i++)
        if (cell_table[i].cell == cell) return cell_table[i].name;
    return "invalid";
}
rnnck_cell rnnck_cell_from_name(const char *name) {
    for (size_t i = 0; name && i < NCELLS; i++)
        if (strcmp(cell_table[i].name, name) == 0) return cell_table[i].cell;
    return RNNCK_CELL_INVALID;
}
int rnnck_cell_gates(rnnck_cell cell) {
    for (size_t i = 0; i < NCELLS; i++)
        if (cell_table[i].cell == cell) return cell_table[i].gates;
    return 0;
}
const char *rnnck_cell_gate_order(rnnck_cell cell) {
    for (size_t i = 0; i < NCELLS; i++)
        if (cell_table[i].cell == cell) return cell_table[i].order;
    return "";
}
int rnnck_cell_gate_index(rnnck_cell cell, char g) {
    const char *order = rnnck_cell_gate_order(cell);
    const char *p = g ? strchr(order, g) : NULL;
    return p ? (int)(p - order) : -1;
}

static const char *const act_names[RNNCK_ACT_COUNT_] = {
    "Sigmoid", "Tanh", "Relu", "HardSigmoid", "Affine", "LeakyRelu",
    "ThresholdedRelu", "ScaledTanh", "Elu", "Softsign", "Softplus",
};
const char *rnnck_act_name(rnnck_act_kind kind) {
    return ((unsigned)kind < RNNCK_ACT_COUNT_) ? act_names[kind] : "invalid";
}
rnnck_act_kind rnnck_act_from_name(const char *name) {
    for (int i = 0; name && i < RNNCK_ACT_COUNT_; i++)
        if (strcmp(act_names[i], name) == 0) return (rnnck_act_kind)i;
    return RNNCK_ACT_COUNT_;
}

static const char *const merge_names[RNNCK_MERGE_COUNT_] = {"concat", "sum", "mul", "ave", "none"};
const char *rnnck_merge_mode_name(rnnck_merge_mode mode) {
    return ((unsigned)mode < RNNCK_MERGE_COUNT_) ? merge_names[mode] : "invalid";
}
rnnck_merge_mode rnnck_merge_mode_from_name(const char *name) {
    for (int i = 0; name && i < RNNCK_MERGE_COUNT_; i++)
        if (strcmp(merge_names[i], name) == 0) return (rnnck_merge_mode)i;
    return RNNCK_MERGE_COUNT_;
}

/* The activations torch.nn gives each cell, per slot. */
static rnnck_activation pytorch_act(rnnck_cell cell, int slot) {
    rnnck_activation a = {RNNCK_ACT_TANH, 0, 0};
    switch (cell) {
    case RNNCK_CELL_LSTM:
    case RNNCK_CELL_GRU:
        if (slot == 0) a.kind = RNNCK_ACT_SIGMOID;
        break;
    case RNNCK_CELL_RNN_RELU:
        if (slot == 0) a.kind = RNNCK_ACT_RELU;
        break;
    default: break;
    }
    return a;
}

void rnnck_module_info_init(rnnck_module_info *info, rnnck_cell cell) {
    memset(info, 0, sizeof *info);
    info->name = "";
    info->cell = cell;
    info->num_layers = 1;
    info->bias = 1;
    info->dtype = RNNCK_F32;
    for (int d = 0; d < 2; d++)
        for (int s = 0; s < RNNCK_ACT_SLOTS; s++) info->act[d][s] = pytorch_act(cell, s);
    info->linear_before_reset = 1;
}

int64_t rnnck__h_out(const rnnck_module_info *info) {
    return info->proj_size > 0 ? info->proj_size : info->hidden_size;
}
int64_t rnnck__layer_input(const rnnck_module_info *info, int64_t layer) {
    return layer == 0 ? info->input_size : rnnck__h_out(info) * (info->bidirectional ? 2 : 1);
}

/* Number of activation slots a cell uses. */
static int used_slots(rnnck_cell cell) {
    return cell == RNNCK_CELL_LSTM ? 3 : cell == RNNCK_CELL_GRU ? 2 : 1;
}

static bool act_equal(rnnck_activation a, rnnck_activation b) {
    if (a.kind != b.kind) return false;
    switch (a.kind) { /* parameters matter only for the kinds that use them */
    case RNNCK_ACT_HARD_SIGMOID:
    case RNNCK_ACT_AFFINE:
    case RNNCK_ACT_SCALED_TANH: return a.alpha == b.alpha && a.beta == b.beta;
    case RNNCK_ACT_LEAKY_RELU:
    case RNNCK_ACT_THRESHOLDED_RELU:
    case RNNCK_ACT_ELU: return a.alpha == b.alpha;
    default: return true;
    }
}

rnnck_status rnnck_module_info_validate(const rnnck_module_info *info) {
    rnnck__err_clear();
    if (!info) return rnnck__err(RNNCK_E_USAGE, "module description is NULL");
    const char *n = info->name ? info->name : "";
    const char *label = *n ? n : "(root)";
    int g = rnnck_cell_gates(info->cell);
    if (!g) return rnnck__err(RNNCK_E_USAGE, "module %s: invalid cell type %d", label, (int)info->cell);
    if (info->input_size < 1 || info->input_size > RNNCK__MAX_SIZE)
        return rnnck__err(RNNCK_E_USAGE, "module %s: input_size %lld must be in [1, 2^31]", label,
                          (long long)info->input_size);
    if (info->hidden_size < 1 || info->hidden_size > RNNCK__MAX_SIZE)
        return rnnck__err(RNNCK_E_USAGE, "module %s: hidden_size %lld must be in [1, 2^31]", label,
                          (long long)info->hidden_size);
    if (info->num_layers < 1 || info->num_layers > RNNCK__MAX_LAYERS)
        return rnnck__err(RNNCK_E_USAGE, "module %s: num_layers %lld must be in [1, %d]", label,
                          (long long)info->num_layers, RNNCK__MAX_LAYERS);
    if (info->proj_size < 0)
        return rnnck__err(RNNCK_E_USAGE, "module %s: proj_size %lld is negative", label, (long long)info->proj_size);
    if (info->proj_size > 0 && info->cell != RNNCK_CELL_LSTM)
        return rnnck__err(RNNCK_E_USAGE, "module %s: proj_size is only supported for LSTM, not %s", label,
                          rnnck_cell_name(info->cell));
    if (info->proj_size >= info->hidden_size && info->proj_size > 0)
        return rnnck__err(RNNCK_E_USAGE, "module %s: proj_size %lld must be smaller than hidden_size %lld", label,
                          (long long)info->proj_size, (long long)info->hidden_size);
    if ((unsigned)info->bias > 1 || (unsigned)info->bidirectional > 1 || (unsigned)info->batch_first > 1)
        return rnnck__err(RNNCK_E_USAGE, "module %s: bias, bidirectional and batch_first must be 0 or 1", label);
    if (!rnnck_dtype_is_float(info->dtype))
        return rnnck__err(RNNCK_E_USAGE, "module %s: parameter dtype %s is not a float type", label,
                          rnnck_dtype_name(info->dtype));
    /* G*H rows and the widest weight must stay addressable. */
    int64_t rows, cols = info->input_size > rnnck__layer_input(info, 1) ? info->input_size : rnnck__layer_input(info, 1), cells;
    if (rnnck__mul_overflow_i64(g, info->hidden_size, &rows) || rnnck__mul_overflow_i64(rows, cols, &cells) ||
        cells > ((int64_t)1 << 40))
        return rnnck__err(RNNCK_E_USAGE, "module %s: parameters of %lld x %lld are too large", label,
                          (long long)(g * info->hidden_size), (long long)cols);
    int slots = used_slots(info->cell);
    for (int d = 0; d < 2; d++)
        for (int s = 0; s < slots; s++) {
            rnnck_activation a = info->act[d][s];
            if ((unsigned)a.kind >= RNNCK_ACT_COUNT_ || !isfinite(a.alpha) || !isfinite(a.beta))
                return rnnck__err(RNNCK_E_USAGE, "module %s: activation %d of direction %d is invalid", label, s, d);
        }
    /* The cell name states the PyTorch nonlinearity; an activation list that
     * says the other one is a contradiction, not an extension. */
    if ((info->cell == RNNCK_CELL_RNN_TANH && info->act[0][0].kind == RNNCK_ACT_RELU) ||
        (info->cell == RNNCK_CELL_RNN_RELU && info->act[0][0].kind == RNNCK_ACT_TANH))
        return rnnck__err(RNNCK_E_USAGE, "module %s: cell %s contradicts its activation %s", label,
                          rnnck_cell_name(info->cell), rnnck_act_name(info->act[0][0].kind));
    if ((unsigned)info->linear_before_reset > 1)
        return rnnck__err(RNNCK_E_USAGE, "module %s: linear_before_reset must be 0 or 1", label);
    if (info->cell != RNNCK_CELL_GRU && info->linear_before_reset != 1)
        return rnnck__err(RNNCK_E_USAGE, "module %s: linear_before_reset applies to GRU only", label);
    if (!isfinite(info->forget_bias) || !isfinite(info->clip) || info->clip < 0)
        return rnnck__err(RNNCK_E_USAGE, "module %s: forget_bias and clip must be finite, clip >= 0", label);
    if (info->cell != RNNCK_CELL_LSTM && (info->forget_bias != 0 || info->peepholes || info->input_forget))
        return rnnck__err(RNNCK_E_USAGE, "module %s: forget_bias, peepholes and input_forget apply to LSTM only",
                          label);
    if ((unsigned)info->peepholes > 1 || (unsigned)info->input_forget > 1)
        return rnnck__err(RNNCK_E_USAGE, "module %s: peepholes and input_forget must be 0 or 1", label);
    if ((unsigned)info->reverse > 1 || (unsigned)info->output_reversed > 1)
        return rnnck__err(RNNCK_E_USAGE, "module %s: reverse and output_reversed must be 0 or 1", label);
    if (info->reverse && info->bidirectional)
        return rnnck__err(RNNCK_E_USAGE, "module %s: reverse applies to unidirectional modules only", label);
    if (info->output_reversed && (!info->reverse || info->num_layers != 1))
        return rnnck__err(RNNCK_E_USAGE, "module %s: output_reversed needs reverse=1 and num_layers 1", label);
    if ((unsigned)info->merge_mode >= RNNCK_MERGE_COUNT_)
        return rnnck__err(RNNCK_E_USAGE, "module %s: merge_mode %d is invalid", label, (int)info->merge_mode);
    if (info->merge_mode != RNNCK_MERGE_CONCAT && (!info->bidirectional || info->num_layers != 1))
        return rnnck__err(RNNCK_E_USAGE, "module %s: merge_mode %s needs a bidirectional module of one layer", label,
                          rnnck_merge_mode_name(info->merge_mode));
    if (!isfinite(info->cell_clip) || !isfinite(info->proj_clip) || info->cell_clip < 0 || info->proj_clip < 0)
        return rnnck__err(RNNCK_E_USAGE, "module %s: cell_clip and proj_clip must be finite and >= 0", label);
    if (info->cell != RNNCK_CELL_LSTM && (info->cell_clip > 0 || info->proj_clip > 0))
        return rnnck__err(RNNCK_E_USAGE, "module %s: cell_clip and proj_clip apply to LSTM only", label);
    if (info->proj_clip > 0 && info->proj_size <= 0)
        return rnnck__err(RNNCK_E_USAGE, "module %s: proj_clip clips the projected output and needs proj_size > 0",
                          label);
    return RNNCK_OK;
}

int rnnck_module_info_is_pytorch(const rnnck_module_info *info) {
    if (!info) return 0;
    int slots = used_slots(info->cell);
    for (int d = 0; d < 2; d++)
        for (int s = 0; s < slots; s++)
            if (!act_equal(info->act[d][s], pytorch_act(info->cell, s))) return 0;
    return info->linear_before_reset == 1 && info->forget_bias == 0 && !info->peepholes && info->clip == 0 &&
           !info->input_forget && !info->reverse && !info->output_reversed && info->merge_mode == RNNCK_MERGE_CONCAT &&
           info->cell_clip == 0 && info->proj_clip == 0;
}

static const char *const param_stems[RNNCK_PARAM_COUNT_] = {
    "weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr", "peephole",
};

rnnck_status rnnck_param_name(rnnck_param kind, int64_t layer, int reverse, char *buf, size_t bufsize) {
    rnnck__err_clear();
    if ((unsigned)kind >= RNNCK_PARAM_COUNT_ || layer < 0 || !buf)
        return rnnck__err(RNNCK_E_USAGE, "rnnck_param_name: invalid argument");
    int n = snprintf(buf, bufsize, "%s_l%lld%s", param_stems[kind], (long long)layer, reverse ? "_reverse" : "");
    if (n < 0 || (size_t)n >= bufsize) return rnnck__err(RNNCK_E_USAGE, "rnnck_param_name: buffer too small");
    return RNNCK_OK;
}

rnnck_status rnnck__param_full_name(const rnnck_module_info *info, rnnck_param kind, int64_t layer, int reverse,
                                    char *buf, size_t bufsize) {
    char local[64];
    rnnck_status st = rnnck_param_name(kind, layer, reverse, local, sizeof local);
    if (st) return st;
    const char *prefix = info->name ? info->name : "";
    int n = snprintf(buf, bufsize, "%s%s%s", prefix, *prefix ? "." : "", local);
    if (n < 0 || (size_t)n >= bufsize) return rnnck__err(RNNCK_E_USAGE, "parameter name too long");
    return RNNCK_OK;
}

int rnnck_param_shape(const rnnck_module_info *info, rnnck_param kind, int64_t layer, int64_t shape[2]) {
    if (!info || layer < 0 || layer >= info->num_layers) return 0;
    int64_t gh = rnnck_cell_gates(info->cell) * info->hidden_size;
    switch (kind) {
    case RNNCK_PARAM_WEIGHT_IH:
        shape[0] = gh;
        shape[1] = rnnck__layer_input(info, layer);
        return 2;
    case RNNCK_PARAM_WEIGHT_HH:
        shape[0] = gh;
        shape[1] = rnnck__h_out(info);
        return 2;
    case RNNCK_PARAM_BIAS_IH:
    case RNNCK_PARAM_BIAS_HH:
        if (!info->bias) return 0;
        shape[0] = gh;
        return 1;
    case RNNCK_PARAM_WEIGHT_HR:
        if (info->proj_size <= 0) return 0;
        shape[0] = info->proj_size;
        shape[1] = info->hidden_size;
        return 2;
    case RNNCK_PARAM_PEEPHOLE:
        if (!info->peepholes || info->cell != RNNCK_CELL_LSTM) return 0;
        shape[0] = 3 * info->hidden_size;
        return 1;
    default: return 0;
    }
}
