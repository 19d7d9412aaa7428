/* The "tf" format: TensorFlow tensor bundles (checkpoints), read-only.
 * A bundle is PREFIX.index plus PREFIX.data-NNNNN-of-NNNNN shards: the path
 * given may be the prefix (no file of that name), the .index or a shard. An
 * .index has no head magic (it starts with a data block), so detection is
 * the confirm step: PREFIX.index exists and ends with the table magic.
 * Variables are read by tf_bundle.c and mapped to modules and plain
 * tensors by tf_cells.c (recurrent cells of every TF era, optimizer slots). */
#include "formats.h"
#include "tf/tf_bundle.h"
#include "tf/tf_cells.h"

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

static rnnck_status read_tf(const char *path, const rnnck_open_opts *opts, rnnck_model **out) {
    rnnck__err_clear();
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "tf reader: NULL argument");
    rnnck__sd sd;
    rnnck__sd_init_for(&sd, opts, path);
    rnnck_status st = rnnck__tf_bundle_read(path, opts, &sd, NULL);
    if (!st) st = rnnck__tf_cells_build(&sd, path, opts, out);
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
