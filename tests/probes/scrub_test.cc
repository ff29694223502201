#include "probes/scrub.h"

#include <gtest/gtest.h>

namespace lagrouter::probes {
namespace {

TEST(ScrubSecret, ReplacesEveryOccurrence) {
  EXPECT_EQ(ScrubSecret("login as bob with hunter2 failed: hunter2", "hunter2"),
            "login as bob with *** failed: ***");
  EXPECT_EQ(ScrubSecret("hunter2hunter2", "hunter2"), "******");
}

TEST(ScrubSecret, LeavesOtherTextAlone) {
  EXPECT_EQ(ScrubSecret("connection refused", "hunter2"), "connection refused");
  EXPECT_EQ(ScrubSecret("", "hunter2"), "");
  EXPECT_EQ(ScrubSecret("hunter", "hunter2"), "hunter");
}

TEST(ScrubSecret, AnEmptySecretChangesNothing) {
  EXPECT_EQ(ScrubSecret("password authentication failed", ""), "password authentication failed");
}

TEST(ScrubSecret, AMaskInsideTheSecretDoesNotLoop) {
  // The search resumes after the mask, so a secret that contains the mask
  // (or is part of it) ends.
  EXPECT_EQ(ScrubSecret("a*b", "*"), "a***b");
  EXPECT_EQ(ScrubSecret("x**x", "**"), "x***x");
}

}  // namespace
}  // namespace lagrouter::probes
