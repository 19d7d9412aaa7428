/* Error reporting: statuses, messages, the one-line promise. */
#include <criterion/criterion.h>
#include <string.h>

#include "rnnck.h"

/* Regression (found by fuzzing): a name read from a file and quoted in a
 * message could carry a newline and break "one line per error". */
Test(errors, a_message_quoting_control_characters_stays_one_line) {
    rnnck_model *m;
    rnnck_tensor *t;
    int64_t shape[1] = {2};
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 1, shape, &t), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_tensor(m, "bad\nname\r\x1b[2J", t), RNNCK_E_USAGE);
    const char *msg = rnnck_errmsg();
    cr_expect(strstr(msg, "bad?name?"), "%s", msg);
    for (const char *p = msg; *p; p++) cr_expect((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte in: %s", msg);
    rnnck_tensor_free(t);
    rnnck_model_free(m);
}

Test(errors, a_successful_call_clears_the_message) {
    rnnck_tensor *t;
    int64_t shape[1] = {-1};
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 1, shape, &t), RNNCK_E_USAGE);
    cr_expect_neq(rnnck_errmsg()[0], '\0');
    shape[0] = 3;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 1, shape, &t), RNNCK_OK);
    cr_expect_str_eq(rnnck_errmsg(), "");
    rnnck_tensor_free(t);
}

Test(errors, every_status_has_a_description) {
    for (int s = 0; s >= -9; s--) {
        const char *d = rnnck_strerror((rnnck_status)s);
        cr_expect(d && *d && strcmp(d, "unknown status") != 0, "status %d", s);
    }
    cr_expect_str_eq(rnnck_strerror((rnnck_status)-99), "unknown status");
}

Test(errors, abi_check_accepts_this_header_and_refuses_a_mismatch) {
    cr_expect_eq(RNNCK_CHECK_ABI(), RNNCK_OK);
    cr_expect_eq(rnnck_check_abi(RNNCK_VERSION_NUMBER, sizeof(rnnck_module_info) + 8, sizeof(rnnck_open_opts),
                                 sizeof(rnnck_forward_opts), sizeof(rnnck_limits)),
                 RNNCK_E_UNSUPPORTED);
    cr_expect(strstr(rnnck_errmsg(), "module_info"), "%s", rnnck_errmsg());
    cr_expect_eq(rnnck_check_abi(10000 + RNNCK_VERSION_NUMBER, sizeof(rnnck_module_info), sizeof(rnnck_open_opts),
                                 sizeof(rnnck_forward_opts), sizeof(rnnck_limits)),
                 RNNCK_E_UNSUPPORTED);
    cr_expect_str_eq(rnnck_version(), RNNCK_VERSION_STRING);
}
