/* Sugarcast test support: waiting for the store's callbacks.
 *
 * await<T>(start) calls `start` with a callback, runs the thread-default
 * main context until that callback fires, and fails the test when it never
 * does (within a bound) or when it fired before `start` returned — the
 * store promises it never does.
 *
 *   auto got = await<std::optional<StreamRecord>>(
 *       [&](auto done) { store.get_stream("abc", done); });
 */
#pragma once

#include "store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

namespace sugarcast::test {

using namespace std::chrono_literals;

/* Runs the thread-default main context until `done()` answers true;
 * false when `timeout` passed first. */
bool run_until(const std::function<bool()> &done, std::chrono::milliseconds timeout = 10s);
/* Runs the main context for `duration`, whatever happens. */
void run_for(std::chrono::milliseconds duration);

template <typename T>
struct Awaited
{
  std::optional<StoreResult<T>> result;
  bool returned = false; /* the method that was given the callback returned */
  bool early = false;    /* the callback ran before that */
  int calls = 0;
};

/* The callback for `state`: records what it was given and when. */
template <typename T>
StoreCallback<T> recorder(std::shared_ptr<Awaited<T>> state)
{
  return [state](StoreResult<T> result) {
    if (!state->returned)
      state->early = true;
    ++state->calls;
    state->result = std::move(result);
  };
}

template <typename T, typename Start>
StoreResult<T> await(Start start, std::chrono::milliseconds timeout = 10s)
{
  auto state = std::make_shared<Awaited<T>>();
  start(recorder(state));
  state->returned = true;
  if (!run_until([&] { return state->result.has_value(); }, timeout)) {
    ADD_FAILURE() << "the store did not call back within " << timeout.count() << " ms";
    return StoreError{"test: no answer", false};
  }
  EXPECT_FALSE(state->early) << "the callback ran before the method returned";
  EXPECT_EQ(state->calls, 1);
  return std::move(*state->result);
}

/* The value of a result that must be ok; a default value (and a test
 * failure naming the error) otherwise. */
template <typename T>
T value_of(StoreResult<T> result)
{
  if (!result.ok()) {
    ADD_FAILURE() << "store error: " << result.error().message
                  << (result.error().retryable ? " (retryable)" : "");
    return T{};
  }
  return std::move(result.value());
}

} // namespace sugarcast::test
