/* sugarcastd — declarative pipeline descriptions.
 *
 * A description (pipelines/NAME.json, schema schemas/pipeline.schema.json)
 * names nodes (an element factory and its properties) and the links between
 * their pads. The daemon loads and checks every description at start-up:
 * the JSON against the schema, every factory present, every property
 * existing and taking its value (with ${parameters} filled by samples of
 * their kind), every link between pads that can exist. An instance is built
 * per event with the parameters filled in.
 */
#pragma once

#include <gst/gst.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sugarcast {

using PipelineParams = std::map<std::string, std::string>;

/* The parameters a kind of description may use, each with a sample value
 * used to check property types at load. */
const std::map<std::string, std::string> &pipeline_parameters(const std::string &kind);

struct PipelineNode
{
  std::string name;
  std::string factory;
  std::vector<std::pair<std::string, std::string>> properties; /* value as text */
  /* "${parameter}": an instance whose parameter is empty leaves the node out
   * and joins its one link in and one link out (PipelineDescription::bypass). */
  std::string only_if;
};

struct PipelineLink
{
  std::string from_node, from_pad; /* pad "" : the element chooses */
  std::string to_node, to_pad;
  std::string caps;
  std::string select;     /* media type for pads that appear at run time */
  std::string if_missing; /* "end" or "remove": when the pad will never come */
  bool each = false;
  std::string where; /* "/links/3", for messages */
};

class PipelineDescription
{
public:
  /* Checks `json` (the text of `file`) completely; on failure `error` holds
   * one line per problem: "FILE: /json/path: what was expected". */
  static std::optional<PipelineDescription> parse(const std::string &file, const std::string &json,
                                                  std::string &error);

  const std::string &name() const { return name_; }
  const std::string &file() const { return file_; }
  const std::string &kind() const { return kind_; }
  const std::vector<PipelineNode> &nodes() const { return nodes_; }
  const std::vector<PipelineLink> &links() const { return links_; }
  /* Names of the nodes made by `factory`. */
  std::vector<std::string> nodes_made_by(const std::string &factory) const;
  /* For a node with `only_if`: the link that replaces its link in and its
   * link out when it is left out (checked at load like any link). */
  const PipelineLink *bypass(const std::string &node) const;

  /* A new pipeline named `pipeline_name` with `params` filled in; its links
   * to pads that appear later are made when they appear. nullptr and
   * `error` when an element cannot be made or linked. */
  GstElement *instantiate(const std::string &pipeline_name, const PipelineParams &params,
                          std::string &error) const;

private:
  std::string name_, file_, kind_;
  std::vector<PipelineNode> nodes_;
  std::vector<PipelineLink> links_;
  std::map<std::string, PipelineLink> bypasses_;
};

/* Stopping a pipeline, or sending it EOS, can wait for its streaming
 * threads; these do it on a GStreamer thread instead of the caller's.
 * stop_pipeline takes the caller's reference; `stopped` then runs on the
 * caller's thread-default main context. */
void stop_pipeline(GstElement *pipeline, std::function<void()> stopped);
void send_eos(GstElement *pipeline);

class PipelineCatalog
{
public:
  /* The built-in descriptions, then DIR/NAME.json (which replace built-ins of
   * the same name) when `dir` is not empty. All problems are reported. */
  bool load(const std::string &dir, std::string &error);
  const PipelineDescription *find(const std::string &name) const;
  std::vector<std::string> names() const;

private:
  std::map<std::string, std::shared_ptr<PipelineDescription>> descriptions_;
};

} // namespace sugarcast
