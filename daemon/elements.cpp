/* sugarcastd — built-in elements. See elements.h. */
#include "elements.h"

#include "gstclipvalidate.h"
#include "gstrtmpserversrc.h"

namespace sugarcast {

void register_builtin_elements()
{
  GST_ELEMENT_REGISTER(clipvalidate, nullptr);
  GST_ELEMENT_REGISTER(rtmpserversrc, nullptr);
}

} // namespace sugarcast
