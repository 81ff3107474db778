/** Platform roles (`user_roles.role`). Every user is at least a standard user. */
export const ROLES = ["platform_manager", "billing_manager", "request_viewer", "standard_user"] as const;
export type Role = (typeof ROLES)[number];
