// The configured groups' names in the page's language, for pages that only hold a group's id (a session, a left
// message, a ticket): read once per page from GET /api/wrapup-reasons, which lists every group with its `names`
// (docs/openapi.yaml, GroupNames), and shared with the wrap-up dialog that reads the same list.

import { api } from "./auth.js";
import { localName } from "./i18n.js";

let groups = null; // group id -> {id, name, names, required, reasons}, once read
let loading = null;

/** Every configured group by id (read once; a failed read is tried again on the next call). */
export function loadGroups() {
  if (groups) return Promise.resolve(groups);
  if (!loading) {
    loading = api("/wrapup-reasons").then((found) => {
      groups = new Map(found.groups.map((g) => [g.id, g]));
      return groups;
    }).catch((err) => {
      loading = null;
      throw err;
    });
  }
  return loading;
}

/** The groups read so far (null before the first read ends). */
export function loadedGroups() {
  return groups;
}

/** A group's name in the page's language; its id until the names are read, or for a group no longer configured. */
export function groupName(id) {
  if (!id) return "";
  return localName(groups && groups.get(id), id);
}
