/* Records the largest single allocation the binary makes, so a test can show
 * that a peer's claim (an array count, a message length) does not size an
 * allocation. Replaces the global operator new: include it in exactly one
 * file of a test binary. */
#pragma once

#include <atomic>
#include <cstdlib>
#include <new>

namespace sugarcast::test {
inline std::atomic<size_t> largest_allocation{0};
}

__attribute__((noinline)) void *operator new(size_t size)
{
  size_t seen = sugarcast::test::largest_allocation.load(std::memory_order_relaxed);
  while (size > seen && !sugarcast::test::largest_allocation.compare_exchange_weak(
                            seen, size, std::memory_order_relaxed)) {
  }
  if (void *p = std::malloc(size ? size : 1))
    return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void *p) noexcept
{
  std::free(p);
}
__attribute__((noinline)) void operator delete(void *p, size_t) noexcept
{
  std::free(p);
}
