/**
 * How the appliance's SSH service resists guessing and floods, with Luna Network HSM 7's documented defaults:
 * - account lockout (REST API `PUT /api/lunasa/user/config/login`, defaults): 3 failed logins
 *   (maxFailedAttempts) within 900 s (detectionWindowSeconds) lock the account for 600 s
 *   (lockoutDurationSeconds); while locked even the right password is refused;
 * - "You must log in within two minutes of opening an administration session, or the connection will time
 *   out" (Logging In to LunaSH): a 120 s login deadline;
 * - "If you fail to provide the correct authentication six times, the session is dropped" and "the maximum
 *   number of simultaneous sessions per channel is the SSH default of 10" (Failed Logins and Lockout on
 *   Appliance): 6 tries per connection, 10 channels per connection.
 * Connections not yet logged in have their own caps: 10 in all, OpenSSH's MaxStartups start value (a guess at
 * what the appliance's sshd keeps), and 8 from one address (our choice, in the spirit of OpenSSH's
 * PerSourceMaxStartups; below 10, and room for an automation host's parallel logins): a newcomer from an address
 * at its share is closed at once, so one flooding address can neither evict nor crowd out an administrator
 * connecting from another. When all 10 are taken (floods from several addresses), the oldest connection of the
 * address holding the most gives way to the newcomer.
 */
export interface SshPolicy {
  maxFailedAttempts: number;
  detectionWindowMs: number;
  lockoutMs: number;
  loginGraceMs: number;
  maxAuthTriesPerConnection: number;
  maxChannelsPerConnection: number;
  maxUnauthenticated: number;
  maxUnauthenticatedPerAddress: number;
  maxAuthenticated: number;
}

export const LUNA_SSH_POLICY: SshPolicy = {
  maxFailedAttempts: 3,
  detectionWindowMs: 900_000,
  lockoutMs: 600_000,
  loginGraceMs: 120_000,
  maxAuthTriesPerConnection: 6,
  maxChannelsPerConnection: 10,
  maxUnauthenticated: 10,
  maxUnauthenticatedPerAddress: 8,
  maxAuthenticated: 64,
};
