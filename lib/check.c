/* PLACEHOLDER — replaced by the schema checker. */
#include "internal.h"
struct rnnck_report { int unused; };
rnnck_status rnnck_check_file(const char *path, unsigned flags, rnnck_report **out) { (void)flags; (void)out; return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: not implemented yet", path); }
size_t rnnck_report_count(const rnnck_report *r) { (void)r; return 0; }
const char *rnnck_report_item(const rnnck_report *r, size_t i) { (void)r; (void)i; return NULL; }
void rnnck_report_free(rnnck_report *r) { (void)r; }
