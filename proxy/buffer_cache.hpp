#pragma once
// Per-worker free lists of the large per-request buffers: the downstream read buffer (4 KiB,
// more after a large head), the 16 KiB response relay buffer and the replay buffer
// (--replay-buffer). A keep-alive connection gives them back while it waits for its next
// request and takes them again when that request arrives, so an idle connection holds none of
// them (issue 15: ≈ 31 KB per idle connection before, most of it these three) while a busy
// worker allocates nothing per request. Each list keeps at most a few dozen buffers; beyond
// that, or for a buffer that grew past its usual size, the memory is freed.
//
// Thread-affinity: worker-local (one per worker, used only on its thread).

#include <cstddef>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>

namespace outrigger::proxy {

class buffer_cache {
public:
    static constexpr std::size_t chunk_size = 16 * 1024;
    static constexpr std::size_t max_read_capacity = 16 * 1024;
    static constexpr std::size_t keep = 64;

    explicit buffer_cache(std::size_t replay_size) : replay_size_(replay_size) {}

    /// The 16 KiB relay buffer, from the list or new.
    std::vector<char> take_chunk() { return take(chunks_, chunk_size); }
    /// A replay buffer of --replay-buffer bytes, from the list or new.
    std::vector<char> take_replay() { return take(replays_, replay_size_); }
    /// An empty read buffer with its capacity kept, or a new one.
    boost::beast::flat_buffer take_read() {
        if (reads_.empty()) {
            return {};
        }
        boost::beast::flat_buffer b = std::move(reads_.back());
        reads_.pop_back();
        return b;
    }

    /// Gives back what `v` holds (`v` is left empty). Only buffers of the usual size are kept.
    void give(std::vector<char>& v) {
        if (v.size() == chunk_size) {
            keep_one(chunks_, v);
        } else if (v.size() == replay_size_ && v.size() != 0) {
            keep_one(replays_, v);
        }
        std::vector<char>().swap(v);
    }
    /// Gives back an empty read buffer (`b` is left with no memory). One holding bytes is
    /// never given back (its bytes are the next request).
    void give(boost::beast::flat_buffer& b) {
        if (b.size() != 0) {
            return;
        }
        if (b.capacity() != 0 && b.capacity() <= max_read_capacity && reads_.size() < keep) {
            reads_.push_back(std::move(b));
        }
        b = boost::beast::flat_buffer{};
    }

private:
    static std::vector<char> take(std::vector<std::vector<char>>& list, std::size_t size) {
        if (list.empty()) {
            return std::vector<char>(size);
        }
        std::vector<char> v = std::move(list.back());
        list.pop_back();
        return v;
    }
    static void keep_one(std::vector<std::vector<char>>& list, std::vector<char>& v) {
        if (list.size() < keep) {
            list.push_back(std::move(v));
        }
    }

    std::size_t replay_size_;
    std::vector<std::vector<char>> chunks_;
    std::vector<std::vector<char>> replays_;
    std::vector<boost::beast::flat_buffer> reads_;
};

}  // namespace outrigger::proxy
