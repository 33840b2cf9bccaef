#pragma once
// Counts heap allocations so a test can assert that a hot path (pick(), a load-report parser)
// makes none. Replacing the global operator new is the only way to see allocations made inside
// std:: containers too. The replacement holds for the whole executable: include this from the
// one file of a test executable, never from a header.

#include <atomic>
#include <cstdlib>
#include <new>

// Heap allocations since the start; compare a reading before and after the code under test.
inline std::atomic<long> g_allocations{0};

void* operator new(std::size_t size)
{
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size))
        return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
