/* Printing module descriptions, shared by inspect (text and JSON). */
#include "describe.h"

#include <stdlib.h>

long *module_of_tensors(const rnnck_model *m) {
    size_t n = rnnck_model_tensor_count(m);
    long *owner = malloc((n ? n : 1) * sizeof *owner);
    if (!owner) return NULL;
    for (size_t i = 0; i < n; i++) owner[i] = -1;
    for (size_t k = 0; k < rnnck_model_module_count(m); k++) {
        const rnnck_module_info *info = rnnck_model_module(m, k);
        for (int64_t l = 0; l < info->num_layers; l++)
            for (int d = 0; d < (info->bidirectional ? 2 : 1); d++)
                for (int p = 0; p < RNNCK_PARAM_COUNT_; p++) {
                    rnnck_tensor *t;
                    if (rnnck_model_param(m, k, (rnnck_param)p, l, d, &t)) continue;
                    for (size_t i = 0; i < n; i++)
                        if (rnnck_model_tensor(m, i) == t) owner[i] = (long)k;
                }
    }
    return owner;
}

static int slots_of(rnnck_cell cell) { return cell == RNNCK_CELL_LSTM ? 3 : cell == RNNCK_CELL_GRU ? 2 : 1; }

void print_module_text(FILE *f, const rnnck_module_info *info) {
    fprintf(f, "module %s: %s input_size=%lld hidden_size=%lld num_layers=%lld proj_size=%lld bias=%d "
               "bidirectional=%d batch_first=%d dtype=%s gate_order=%s\n",
            *info->name ? info->name : "(root)", rnnck_cell_name(info->cell), (long long)info->input_size,
            (long long)info->hidden_size, (long long)info->num_layers, (long long)info->proj_size, info->bias,
            info->bidirectional, info->batch_first, rnnck_dtype_name(info->dtype),
            rnnck_cell_gate_order(info->cell));
    if (rnnck_module_info_is_pytorch(info)) {
        fprintf(f, "  semantics: PyTorch (torch.nn.%s)\n",
                info->cell == RNNCK_CELL_LSTM ? "LSTM" : info->cell == RNNCK_CELL_GRU ? "GRU" : "RNN");
        return;
    }
    fprintf(f, "  semantics beyond PyTorch:");
    int dirs = info->bidirectional ? 2 : 1;
    fprintf(f, " activations=");
    for (int d = 0; d < dirs; d++)
        for (int s = 0; s < slots_of(info->cell); s++) {
            rnnck_activation a = info->act[d][s];
            fprintf(f, "%s%s(%g,%g)", (d || s) ? "," : "", rnnck_act_name(a.kind), a.alpha, a.beta);
        }
    if (info->cell == RNNCK_CELL_GRU) fprintf(f, " linear_before_reset=%d", info->linear_before_reset);
    if (info->cell == RNNCK_CELL_LSTM)
        fprintf(f, " forget_bias=%g peepholes=%d input_forget=%d", info->forget_bias, info->peepholes,
                info->input_forget);
    fprintf(f, " clip=%g", info->clip);
    if (info->cell_clip > 0) fprintf(f, " cell_clip=%g", info->cell_clip);
    if (info->proj_clip > 0) fprintf(f, " proj_clip=%g", info->proj_clip);
    if (info->reverse)
        fprintf(f, " direction=reverse output_order=%s", info->output_reversed ? "processed" : "time");
    if (info->merge_mode != RNNCK_MERGE_CONCAT) fprintf(f, " merge_mode=%s", rnnck_merge_mode_name(info->merge_mode));
    fprintf(f, "\n");
}

void print_module_json(FILE *f, const rnnck_module_info *info) {
    fprintf(f, "{\"name\": ");
    json_string(f, info->name);
    fprintf(f, ", \"module\": \"%s\", \"input_size\": %lld, \"hidden_size\": %lld, \"num_layers\": %lld, "
               "\"proj_size\": %lld, \"bias\": %s, \"bidirectional\": %s, \"batch_first\": %s, \"dtype\": \"%s\", "
               "\"gate_order\": \"%s\", \"pytorch_semantics\": %s, \"activations\": [",
            rnnck_cell_name(info->cell), (long long)info->input_size, (long long)info->hidden_size,
            (long long)info->num_layers, (long long)info->proj_size, info->bias ? "true" : "false",
            info->bidirectional ? "true" : "false", info->batch_first ? "true" : "false",
            rnnck_dtype_name(info->dtype), rnnck_cell_gate_order(info->cell),
            rnnck_module_info_is_pytorch(info) ? "true" : "false");
    int dirs = info->bidirectional ? 2 : 1;
    for (int d = 0; d < dirs; d++)
        for (int s = 0; s < slots_of(info->cell); s++) {
            rnnck_activation a = info->act[d][s];
            fprintf(f, "%s{\"name\": \"%s\", \"alpha\": ", (d || s) ? ", " : "", rnnck_act_name(a.kind));
            json_number(f, a.alpha);
            fprintf(f, ", \"beta\": ");
            json_number(f, a.beta);
            fprintf(f, "}");
        }
    fprintf(f, "], \"linear_before_reset\": %s, \"forget_bias\": ", info->linear_before_reset ? "true" : "false");
    json_number(f, info->forget_bias);
    fprintf(f, ", \"peepholes\": %s, \"clip\": ", info->peepholes ? "true" : "false");
    json_number(f, info->clip);
    fprintf(f, ", \"input_forget\": %s, \"direction\": \"%s\", \"output_order\": \"%s\", \"merge_mode\": \"%s\"",
            info->input_forget ? "true" : "false",
            info->bidirectional ? "bidirectional" : info->reverse ? "reverse" : "forward",
            info->output_reversed ? "processed" : "time", rnnck_merge_mode_name(info->merge_mode));
    fprintf(f, ", \"cell_clip\": ");
    json_number(f, info->cell_clip);
    fprintf(f, ", \"proj_clip\": ");
    json_number(f, info->proj_clip);
    fprintf(f, "}");
}
