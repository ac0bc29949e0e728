/**
 * Role-based access control: three roles mapped to named permissions in one table. Routes and bot commands
 * declare the permission they need; nothing checks a role name directly.
 */
import type { UserRole } from '../db/schema.ts';

/** Every permission the product knows. `:read` permissions never change anything. */
export const PERMISSIONS = [
  'profile:read',
  'profile:write',
  'sessions:read',
  'sessions:write',
  'api-keys:read',
  'api-keys:write',
  'mfa:read',
  'mfa:write',
  'oauth:read',
  'oauth:write',
  'privacy:read',
  'privacy:write',
  'admin:users:read',
  'admin:users:write',
  'admin:roles:write',
  'admin:security:read',
  'admin:security:write',
  'admin:audit:read',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** The read-only subset: what `readonly` may do (and what a read-only API key may be scoped to). */
export const READ_PERMISSIONS = PERMISSIONS.filter((permission) => permission.endsWith(':read'));

/** The one table mapping roles to permissions. */
export const ROLE_PERMISSIONS: Record<UserRole, readonly Permission[]> = {
  admin: PERMISSIONS,
  user: PERMISSIONS.filter((permission) => !permission.startsWith('admin:')),
  readonly: READ_PERMISSIONS.filter((permission) => !permission.startsWith('admin:')),
};

/** True when `role` grants `permission`. */
export function roleHas(role: UserRole, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].includes(permission);
}

/** The permissions of `role`, e.g. for a token's claims. */
export function permissionsOf(role: UserRole): readonly Permission[] {
  return ROLE_PERMISSIONS[role];
}

export function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value);
}
