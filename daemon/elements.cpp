/* sugarcastd — built-in elements. See elements.h. */
#include "elements.h"

#include "gstclipvalidate.h"

namespace sugarcast {

void register_builtin_elements()
{
  GST_ELEMENT_REGISTER(clipvalidate, nullptr);
}

} // namespace sugarcast
