#include "tls/cert_watcher.hpp"

#include <sys/stat.h>

#include <utility>

namespace outrigger::tls {

namespace {

std::int64_t to_ns(const timespec& ts) {
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

cert_watcher::cert_watcher(std::vector<std::string> files) : files_(std::move(files)) {
    stamps_.reserve(files_.size());
    for (const auto& f : files_) {
        stamps_.push_back(stat_file(f));
    }
}

cert_watcher::stamp cert_watcher::stat_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return stamp{};  // missing or unreadable directory: "does not exist"
    }
    stamp s;
    s.exists = true;
    s.dev = static_cast<std::uint64_t>(st.st_dev);
    s.ino = static_cast<std::uint64_t>(st.st_ino);
    s.size = static_cast<std::int64_t>(st.st_size);
    s.mtime_ns = to_ns(st.st_mtim);
    s.ctime_ns = to_ns(st.st_ctim);
    return s;
}

bool cert_watcher::changed() const {
    for (std::size_t i = 0; i < files_.size(); ++i) {
        if (!(stat_file(files_[i]) == stamps_[i])) {
            return true;
        }
    }
    return false;
}

std::vector<std::string> cert_watcher::changed_files() const {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < files_.size(); ++i) {
        if (!(stat_file(files_[i]) == stamps_[i])) {
            out.push_back(files_[i]);
        }
    }
    return out;
}

}  // namespace outrigger::tls
