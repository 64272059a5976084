/* sugarcastd — metrics in the Prometheus text format (GET /metrics).
 *
 * Counters are atomics a module keeps a reference to and bumps from any
 * thread; gauges are functions read on the main context at scrape time. */
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sugarcast {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics
{
public:
  /* The counter `name{labels}`, made on first use; the reference stays valid
   * as long as the Metrics object. */
  std::atomic<uint64_t> &counter(const std::string &name, const std::string &help,
                                 const Labels &labels = {});
  /* A value computed when scraped. */
  void gauge(const std::string &name, const std::string &help, std::function<double()> read,
             const Labels &labels = {});
  /* Forgets every gauge series with exactly these labels (a stream's, when
   * it ends), so that a daemon that has run many streams does not scrape
   * them all forever. Counters stay: modules hold references to them. */
  void remove_gauges(const Labels &labels);
  /* The exposition text: # HELP, # TYPE and one line per series. */
  std::string render() const;

private:
  struct Family
  {
    std::string help;
    std::string type;
    std::map<std::string, std::unique_ptr<std::atomic<uint64_t>>> counters; /* by label text */
    std::map<std::string, std::function<double()>> gauges;
  };
  mutable std::mutex lock_;
  std::map<std::string, Family> families_;
};

} // namespace sugarcast
