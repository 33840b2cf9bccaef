#include "rif_window.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dlb::agent::balance {

namespace {
// q·k may land a hair off an integer in floating point; this keeps ⌈q·k⌉ on the intended side.
constexpr double kEpsilon = 1e-9;
} // namespace

RifWindow::RifWindow()
{
    sorted_.fill(std::numeric_limits<uint32_t>::max());
}

bool RifWindow::expire(uint64_t now_ns, uint64_t max_age_ns)
{
    bool changed = false;
    while (count_ > 0) {
        const std::size_t oldest = (head_ + kCapacity - count_) % kCapacity;
        if (!(now_ns > time_[oldest] && now_ns - time_[oldest] > max_age_ns))
            break;
        const uint32_t value = ring_[oldest];
        uint32_t* const sorted = sorted_.data();
        std::size_t at = 0;
        while (sorted[at] != value) // present: every ring value is in the sorted array
            ++at;
        std::copy(sorted + at + 1, sorted + count_, sorted + at);
        sorted[count_ - 1] = std::numeric_limits<uint32_t>::max();
        --count_;
        changed = true;
    }
    return changed;
}

void RifWindow::record(uint32_t rif, uint64_t now_ns, uint64_t max_age_ns)
{
    expire(now_ns, max_age_ns);
    // Positions come from branchless counts (the window is short and RIFs repeat, where binary
    // search mispredicts), and the answer leaving the window is replaced in one shift.
    // Unfilled slots hold the largest value, so the count can run over the whole window (a
    // fixed trip count the compiler vectorises).
    const auto countBelow = [this](uint32_t value) {
        uint32_t below = 0;
        for (const uint32_t sample : sorted_)
            below += sample < value ? 1U : 0U;
        return std::size_t{below};
    };
    uint32_t* const sorted = sorted_.data();
    const std::size_t to = countBelow(rif);
    if (count_ < kCapacity) {
        std::copy_backward(sorted + to, sorted + count_, sorted + count_ + 1);
        sorted[to] = rif;
        ++count_;
    } else {
        const std::size_t from = countBelow(ring_[head_]); // where the oldest answer sits
        if (to > from) { // the slots between move down over the leaving value
            std::copy(sorted + from + 1, sorted + to, sorted + from);
            sorted[to - 1] = rif;
        } else { // the slots between move up over it
            std::copy_backward(sorted + to, sorted + from, sorted + from + 1);
            sorted[to] = rif;
        }
    }
    ring_[head_] = rif;
    time_[head_] = now_ns;
    head_ = (head_ + 1) % kCapacity;
}

double RifWindow::quantile(double q) const
{
    if (count_ == 0)
        return std::numeric_limits<double>::infinity();
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(count_) - kEpsilon));
    return rank == 0 ? -1.0 : sorted_[std::min(rank, count_) - 1];
}

} // namespace dlb::agent::balance
