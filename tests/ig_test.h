/* ig_test.h - the smallest test harness that does the job: CHECK records a failure with
 * file:line and the expression, RUN runs a test function, the exit code is the failure count. */
#ifndef IG_TEST_H
#define IG_TEST_H

#include <stdio.h>

static int ig_test_failures = 0;

#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); ig_test_failures++; } } while (0)
#define CHECK_MSG(cond, ...) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); ig_test_failures++; } } while (0)
#define RUN(fn) do { int before_ = ig_test_failures; fn(); \
    printf("%s %s\n", ig_test_failures == before_ ? "ok  " : "FAIL", #fn); } while (0)
#define TEST_EXIT() (printf("%d failure(s)\n", ig_test_failures), ig_test_failures ? 1 : 0)

#endif
