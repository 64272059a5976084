/* sugarcastd — what reading descriptions (pipelines.cpp) and building them
 * (pipelines_build.cpp) share: the debug category and the helpers the
 * builder calls. Not for other modules. */
#pragma once

#include <gst/gst.h>

#include <map>
#include <string>

GST_DEBUG_CATEGORY_EXTERN(pipelines_debug);

namespace sugarcast::pipeline_detail {

/* Fills ${name} from `params`; names a parameter the kind lacks in `error`. */
bool substitute(const std::string &text, const std::map<std::string, std::string> &params,
                std::string &out, std::string &error);

/* `text` as a value of the property's type, the way gst-launch-1.0 reads it. */
bool value_from_text(GParamSpec *pspec, const std::string &text, GValue *value, std::string &error);

/* The pad template `pad` names on an element class: by template name, or a
 * concrete name matching a %u/%d/%s template. */
GstPadTemplate *find_template(GstElementClass *klass, const std::string &pad, GstPadDirection dir);

/* Whether a link from `templ` (nullptr: the element's choice) waits for
 * pads that appear while the pipeline runs. */
bool appears_at_run_time(GstElementClass *klass, GstPadTemplate *templ);

/* The element class a factory makes (loading its plugin), or nullptr. */
GstElementClass *element_class(const std::string &factory_name);

} // namespace sugarcast::pipeline_detail
