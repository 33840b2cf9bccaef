#include "tools/replica/job.hpp"

namespace dlb::tools::replica {

namespace {
// A body buffer larger than this is released rather than kept for the next request.
constexpr size_t kMaxRetainedBodyBytes = 64 * 1024;
}

void Job::reset()
{
    conn = nullptr;
    kind = Kind::Work;
    asks = Asks::Work;
    done = false;
    head = false;
    keep_alive = true;
    http10 = false;
    status = 200;
    rif_at_arrival = 0;
    received_ns = 0;
    extra_service_ns = 0;
    if (body.capacity() > kMaxRetainedBodyBytes)
        std::string().swap(body);
    else
        body.clear();
    content_type = "text/plain";
}

} // namespace dlb::tools::replica
