// A throwaway nats-server for the benchmark: file storage in a temporary directory, a port
// the server picks itself.
#pragma once

#include <string>

#include <sys/types.h>

namespace flowstore::bench {

class throwaway_server {
 public:
  throwaway_server();
  ~throwaway_server();
  throwaway_server(const throwaway_server&) = delete;
  throwaway_server& operator=(const throwaway_server&) = delete;

  const std::string& url() const { return url_; }
  pid_t pid() const { return pid_; }
  std::string version() const;

 private:
  std::string dir_;
  std::string url_;
  pid_t pid_ = 0;
};

}  // namespace flowstore::bench
