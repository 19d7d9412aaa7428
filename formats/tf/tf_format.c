/* The "tf" format: TensorFlow tensor bundles (checkpoints), read-only.
 * A bundle is PREFIX.index plus PREFIX.data-NNNNN-of-NNNNN shards: the path
 * given may be the prefix (no file of that name), the .index or a shard. An
 * .index has no head magic (it starts with a data block), so detection is
 * the confirm step: PREFIX.index exists and ends with the table magic.
 * Variables are read by tf_bundle.c; until the cell mapping reads them,
 * every variable is a plain tensor named after its key (plain_names). */
#include "formats.h"
#include "tf/tf_bundle.h"

#include <stdlib.h>
#include <string.h>

static int detect_tf(const unsigned char *head, size_t n) {
    (void)head, (void)n;
    return 1; /* the head of an .index or shard cannot tell: confirm decides */
}

static int confirm_tf(const char *path, bool trusted) {
    (void)trusted;
    return rnnck__tf_bundle_probe(path);
}

/* 1 if another variable lies under item i's name as a scope ("x" and
 * "x/Adam"): the items are in key order, so that is the first name at or
 * after "x/" (binary search: n log n in all). */
static int is_scope(const rnnck__sd *sd, size_t i) {
    const char *name = sd->items[i].name;
    size_t n = strlen(name), lo = i + 1, hi = sd->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = sd->items[mid].name;
        int c = strncmp(m, name, n);
        if (c == 0) c = (unsigned char)m[n] < '/' ? -1 : (unsigned char)m[n] > '/' ? 1 : 0;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < sd->n && strncmp(sd->items[lo].name, name, n) == 0 && sd->items[lo].name[n] == '/';
}

/* Plain-tensor names until the cell mapping names things: TensorFlow's
 * scope separator '/' becomes '.', a '.' inside a TF name becomes '_'
 * (".ATTRIBUTES" would make an empty component), and a variable that is
 * also a scope of others (an optimizer slot "x/Adam" under "x") becomes
 * "x.value", since a name cannot be both a tensor and a group. */
static rnnck_status plain_names(rnnck__sd *sd) {
    char *mark = calloc(sd->n ? sd->n : 1, 1);
    if (!mark) return rnnck__oom();
    for (size_t i = 0; i < sd->n; i++) mark[i] = (char)is_scope(sd, i);
    rnnck_status st = RNNCK_OK;
    for (size_t i = 0; i < sd->n && !st; i++) {
        for (char *c = sd->items[i].name; *c; c++) *c = *c == '/' ? '.' : *c == '.' ? '_' : *c;
        if (!mark[i]) continue;
        char *renamed = rnnck__asprintf("%s.value", sd->items[i].name);
        if (!renamed) st = rnnck__oom();
        else {
            free(sd->items[i].name);
            sd->items[i].name = renamed;
        }
    }
    free(mark);
    return st;
}

static rnnck_status read_tf(const char *path, const rnnck_open_opts *opts, rnnck_model **out) {
    rnnck__err_clear();
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "tf reader: NULL argument");
    rnnck__sd sd;
    rnnck__sd_init_for(&sd, opts, path);
    rnnck_status st = rnnck__tf_bundle_read(path, opts, &sd, NULL);
    if (!st) st = plain_names(&sd);
    if (!st) st = rnnck__sd_build(&sd, path, opts, out);
    rnnck__sd_free(&sd);
    return st;
}

const rnnck__format rnnck__format_tf = {
    .name = "tf",
    .extensions = ",.index,",
    .detect = detect_tf,
    .read = read_tf,
    .confirm = confirm_tf,
};
