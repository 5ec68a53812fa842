/* Assertions for tight test loops. Check's ck_assert* records its location through the
 * runner's pipe on every call that passes (one write(2) each), which makes a loop of
 * a million assertions take tens of seconds; these only talk to Check when they fail. */
#ifndef SPARKD_TESTS_FAST_ASSERT_H
#define SPARKD_TESTS_FAST_ASSERT_H

#include <check.h>
#include <string.h>

#define REQ(cond)                                                                                                      \
  do {                                                                                                                 \
    if (!(cond)) ck_abort_msg("%s:%d: assertion failed: %s", __FILE__, __LINE__, #cond);                               \
  } while (0)

#define REQ_MSG(cond, ...)                                                                                             \
  do {                                                                                                                 \
    if (!(cond)) ck_abort_msg(__VA_ARGS__);                                                                            \
  } while (0)

#define REQ_CMP_INT(a, op, b)                                                                                          \
  do {                                                                                                                 \
    long long req_x_ = (long long)(a), req_y_ = (long long)(b);                                                        \
    if (!(req_x_ op req_y_))                                                                                           \
      ck_abort_msg("%s:%d: %s %s %s (%lld vs %lld)", __FILE__, __LINE__, #a, #op, #b, req_x_, req_y_);                 \
  } while (0)

#define REQ_INT_EQ(a, b) REQ_CMP_INT(a, ==, b)

#define REQ_STR_EQ(a, b)                                                                                               \
  do {                                                                                                                 \
    const char *req_s_ = (a), *req_t_ = (b);                                                                           \
    if (strcmp(req_s_, req_t_) != 0)                                                                                   \
      ck_abort_msg("%s:%d: %s == %s (\"%s\" vs \"%s\")", __FILE__, __LINE__, #a, #b, req_s_, req_t_);                  \
  } while (0)

#define REQ_MEM_EQ(a, b, n) REQ(memcmp((a), (b), (n)) == 0)

#endif
