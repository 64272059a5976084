/* sugarcastd chat — who someone is in a room: the roles a user token
 * carries (jwt.h) and the chat protocol shows (protocol.h). */
#pragma once

#include <string_view>

namespace sugarcast::chat {

/* In rising order of rights (code compares them). A creator uploads short
 * videos; in chat a creator is a viewer. */
enum class Role { Anonymous, Viewer, Creator, Moderator, Streamer, Admin };

inline const char *role_name(Role role)
{
  switch (role) {
  case Role::Anonymous:
    return "anonymous";
  case Role::Viewer:
    return "viewer";
  case Role::Creator:
    return "creator";
  case Role::Moderator:
    return "moderator";
  case Role::Streamer:
    return "streamer";
  case Role::Admin:
    return "admin";
  }
  return "viewer";
}

/* "viewer" etc.; false when the name is not a role a token may carry. */
inline bool parse_role(std::string_view name, Role &role)
{
  if (name == "viewer")
    role = Role::Viewer;
  else if (name == "creator")
    role = Role::Creator;
  else if (name == "moderator")
    role = Role::Moderator;
  else if (name == "streamer")
    role = Role::Streamer;
  else if (name == "admin")
    role = Role::Admin;
  else
    return false;
  return true;
}

} // namespace sugarcast::chat
