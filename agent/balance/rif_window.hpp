#pragma once
// The RIFs of recent probe answers, from which Prequal reads its hot threshold (the Q_RIF
// quantile of the RIF distribution across replicas). At most kCapacity answers, none older than
// the maximum age the caller gives: after a lull, the threshold of a busy minute must not make
// every new answer look cold, and with adaptive probing answers can be far fewer than requests.
//
// Kept twice: a ring in arrival order and the same values sorted, so a quantile is one lookup and
// each answer costs two short memmoves. No allocation. Threading: the owning Prequal's.

#include <array>
#include <cstddef>
#include <cstdint>

namespace dlb::agent::balance {

class RifWindow {
public:
    // About 21 requests' worth of answers at r_probe = 3, so the threshold follows a load shift
    // within a few tens of milliseconds at moderate load, while the 0.84 quantile still rests
    // on ~10 answers above it.
    static constexpr std::size_t kCapacity = 64;

    RifWindow();

    // Adds an answer received at now_ns; answers older than max_age_ns leave first.
    void record(uint32_t rif, uint64_t now_ns, uint64_t max_age_ns);
    // Drops the answers older than max_age_ns; true when any left.
    bool expire(uint64_t now_ns, uint64_t max_age_ns);
    // The value of rank ⌈q·k⌉ of the k answers held: -1 when that rank is 0 (q = 0), +infinity
    // when the window is empty.
    double quantile(double q) const;
    std::size_t size() const { return count_; }

private:
    std::array<uint32_t, kCapacity> ring_{};
    std::array<uint32_t, kCapacity> sorted_{}; // unfilled slots hold the largest value
    std::array<uint64_t, kCapacity> time_{};   // receipt times, parallel to ring_
    std::size_t count_ = 0;
    std::size_t head_ = 0; // where the next answer goes
};

} // namespace dlb::agent::balance
