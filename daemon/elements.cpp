/* sugarcastd — built-in elements. See elements.h. */
#include "elements.h"

#include "gstabrladder.h"
#include "gstclipvalidate.h"
#include "gstgiftoverlay.h"
#include "gsthlsabrsink.h"
#include "gstrecordsink.h"
#include "gstreplaysrc.h"
#include "gstrtmpserversrc.h"

namespace sugarcast {

void register_builtin_elements()
{
  GST_ELEMENT_REGISTER(clipvalidate, nullptr);
  GST_ELEMENT_REGISTER(rtmpserversrc, nullptr);
  GST_ELEMENT_REGISTER(abrladder, nullptr);
  GST_ELEMENT_REGISTER(hlsabrsink, nullptr);
  GST_ELEMENT_REGISTER(giftoverlay, nullptr);
  GST_ELEMENT_REGISTER(recordsink, nullptr);
  GST_ELEMENT_REGISTER(replaysrc, nullptr);
}

} // namespace sugarcast
