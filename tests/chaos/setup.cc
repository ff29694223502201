#include "tests/chaos/setup.h"

#include <algorithm>
#include <cstdlib>

#include "tests/chaos/daemon_api.h"

namespace lagrouter::chaos {

namespace {

// Where the cluster keeps its data (pid files), from the script itself.
bool FindDataDir(Harness& h) {
  const std::string key = h.o.patroni()  ? "PATRONI_DIR"
                          : h.o.postgres ? "LAGROUTER_PG_DIR"
                                         : "LAGROUTER_MARIADB_DIR";
  h.data_dir = test_support::ScriptEnv(h.o.script, key);
  if (h.data_dir.empty()) {
    Log("no %s in the output of '%s env'", key.c_str(), h.o.script.c_str());
    return false;
  }
  return true;
}

// The classes read in: those given, or with a listener, or the default ones.
bool ResolveClasses(Harness& h) {
  std::vector<std::string> wanted = h.o.classes;
  if (wanted.empty() && h.o.path == Path::kListen) {
    for (const auto& [name, port] : h.o.listen) wanted.push_back(name);
  }
  if (wanted.empty()) wanted.assign(kClasses.begin(), kClasses.begin() + kDefaultClasses);
  for (size_t k = 0; k < kClasses.size(); ++k) {
    if (std::find(wanted.begin(), wanted.end(), kClasses[k]) != wanted.end()) {
      if (h.o.path != Path::kListen || h.o.listen.count(kClasses[k]) != 0) h.classes.push_back(k);
    }
  }
  if (h.classes.empty() || (!wanted.empty() && h.classes.size() != wanted.size())) {
    Log("a class given to --classes or --listen is not one this checker reads in (c300ms, c1s, "
        "c10s, c50ms, c5s), or has no listener");
    return false;
  }
  return true;
}

// seq (MariaDB: created here) and an empty ryw on the primary; h.start_id.
bool PrepareTables(Harness& h, int primary) {
  std::string error, value;
  auto db = h.pool.Acquire(h.o.base_port + primary, &error);
  const bool pg = h.o.postgres;
  if (db == nullptr ||
      (!pg && !db->TryQuery("CREATE TABLE IF NOT EXISTS shop.seq (id BIGINT PRIMARY KEY, "
                            "committed_at TIMESTAMP(6) NOT NULL DEFAULT "
                            "CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
                            &value, &error)) ||
      !db->TryQuery(pg ? "CREATE TABLE IF NOT EXISTS ryw (reader int, n bigint, "
                         "PRIMARY KEY (reader, n))"
                       : "CREATE TABLE IF NOT EXISTS shop.ryw (reader INT, n BIGINT, "
                         "PRIMARY KEY (reader, n)) ENGINE=InnoDB",
                    &value, &error) ||
      !db->TryQuery("DELETE FROM " + h.RywTable(), &value, &error) ||
      !db->TryQuery("SELECT COALESCE(MAX(id), 0) FROM " + h.SeqTable(), &value, &error)) {
    Log("cannot prepare %s on the primary (node %d): %s", h.SeqTable().c_str(), primary,
        error.c_str());
    return false;
  }
  h.start_id = std::strtoll(value.c_str(), nullptr, 10);
  return true;
}

}  // namespace

bool PrepareRun(Harness& h) {
  if (!FindDataDir(h)) return false;
  // Wait for the daemon to know the topology, then prepare the tables.
  const std::optional<Topology> topo = WaitForTopology(h.o);
  if (!topo) {
    Log("the daemon on port %d does not report a primary and replicas", h.o.daemon_port);
    return false;
  }
  if (h.o.path == Path::kNaive) h.naive_node = topo->replicas.front();
  if (!ResolveClasses(h) || !PrepareTables(h, topo->primary)) return false;
  Log("engine %s, %d s, path %s, %d readers, seed %llu, primary node %d, ids from %lld",
      h.o.engine(), h.o.seconds, PathName(h.o.path), h.o.readers,
      static_cast<unsigned long long>(h.o.seed), topo->primary,
      static_cast<long long>(h.start_id + 1));
  return true;
}

}  // namespace lagrouter::chaos
