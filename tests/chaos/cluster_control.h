// The cluster under test as the faults act on it: its script (start-node,
// stop-node, sql, promote, repoint, kill-leader, ...) and its servers' processes.
// Nodes are numbered from 0 (the base port); scripts/patroni-cluster.sh
// numbers its members from 1, which Sql() and ServerPids() account for.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "tests/chaos/options.h"

namespace lagrouter::chaos {

class ClusterControl {
 public:
  ClusterControl(const Options& o, std::string data_dir) : o_(o), data_dir_(std::move(data_dir)) {}

  const Options& options() const { return o_; }
  const std::string& data_dir() const { return data_dir_; }

  // `script ARGS`; false (logged) when it failed; its output in *out.
  bool Script(const std::string& args, std::string* out = nullptr) const;
  // SQL as the superuser on `node`, through the script.
  bool Sql(int node, const std::string& sql, std::string* out = nullptr) const;
  // The server's main process first (postmaster, mariadbd), then (PostgreSQL)
  // its children: backends and auxiliary processes. Empty when it is not running.
  std::vector<pid_t> ServerPids(int node) const;
  // Waits up to 30 s for `pid` to be gone.
  static bool WaitGone(pid_t pid);
  // Starts a killed node again, retrying for up to 60 s.
  bool RestartNode(int node) const;

 private:
  std::string PidFile(int node) const;

  const Options& o_;
  const std::string data_dir_;
};

}  // namespace lagrouter::chaos
