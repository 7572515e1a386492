import { ServiceError } from '../http/errors';

/**
 * The ARM plane's own error factory, apart from the data plane's (http/errors.ts): every refusal leaves as
 * {"error":{"code","message"}} with Azure Resource Manager's codes and statuses. ServiceError is only the carrier
 * that the HTTPS listener serialises; tests import ArmCodes to compare.
 */
export const ArmCodes = {
  AuthenticationFailed: 'AuthenticationFailed',
  InvalidAuthenticationToken: 'InvalidAuthenticationToken',
  InvalidAuthenticationTokenAudience: 'InvalidAuthenticationTokenAudience',
  InvalidAuthenticationTokenTenant: 'InvalidAuthenticationTokenTenant',
  ExpiredAuthenticationToken: 'ExpiredAuthenticationToken',
  MissingApiVersionParameter: 'MissingApiVersionParameter',
  InvalidApiVersionParameter: 'InvalidApiVersionParameter',
  NoRegisteredProviderFound: 'NoRegisteredProviderFound',
  InvalidResourceNamespace: 'InvalidResourceNamespace',
  InvalidResourceType: 'InvalidResourceType',
  InvalidSubscriptionId: 'InvalidSubscriptionId',
  InvalidResourceGroupName: 'InvalidResourceGroupName',
  InvalidResourceName: 'InvalidResourceName',
  InvalidRequestContent: 'InvalidRequestContent',
  InvalidParameter: 'InvalidParameter',
  PropertyChangeNotAllowed: 'PropertyChangeNotAllowed',
  InvalidResourceLocation: 'InvalidResourceLocation',
  LocationNotAvailableForResourceType: 'LocationNotAvailableForResourceType',
  InvalidOperation: 'InvalidOperation',
  ResourceNotFound: 'ResourceNotFound',
  NotFound: 'NotFound',
  Conflict: 'Conflict',
  AnotherOperationInProgress: 'AnotherOperationInProgress',
  PrivateIPAddressInUse: 'PrivateIPAddressInUse',
  HsmNotZeroized: 'HsmNotZeroized',
  FeatureNotFound: 'FeatureNotFound',
  MethodNotAllowed: 'MethodNotAllowed',
  NotSupported: 'NotSupported',
  ProvisioningFailed: 'ProvisioningFailed',
  InternalServerError: 'InternalServerError',
} as const;

export type ArmCode = (typeof ArmCodes)[keyof typeof ArmCodes];

const e = (status: number, code: ArmCode, message: string, headers: Record<string, string> = {}) => new ServiceError(status, code, message, undefined, headers);

/** What a value looked like, shortened: messages name the value received without echoing long input. */
export function shown(v: unknown, max = 64): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

export const armErrors = {
  unauthenticated: (code: ArmCode, message: string, authorizationUri: string) =>
    e(401, code, message, { 'www-authenticate': `Bearer authorization_uri="${authorizationUri}", error="invalid_token", error_description="${message.replace(/"/g, "'")}"` }),
  missingApiVersion: () => e(400, ArmCodes.MissingApiVersionParameter, 'The api-version query parameter (?api-version=) is required for all requests.'),
  invalidApiVersion: (given: string, supported: readonly string[]) =>
    e(400, ArmCodes.InvalidApiVersionParameter, `The api-version '${shown(given, 40)}' is invalid. The supported versions are '${supported.join(',')}'.`),
  noRegisteredProvider: (given: string, type: string, supported: readonly string[]) =>
    e(400, ArmCodes.NoRegisteredProviderFound, `No registered resource provider found for API version '${shown(given, 40)}' and type '${type}'. The supported api-versions are '${supported.join(', ')}'.`),
  invalidNamespace: (ns: string) =>
    e(400, ArmCodes.InvalidResourceNamespace, `The resource namespace '${shown(ns, 64)}' is not served by the simulator; it serves the resources of Microsoft.HardwareSecurityModules and Microsoft.KeyVault, and the registrations of Microsoft.Features and Microsoft.Resources.`),
  invalidResourceType: (type: string, ns: string, known: readonly string[]) =>
    e(400, ArmCodes.InvalidResourceType, `The resource type '${shown(type, 64)}' could not be found in the namespace '${ns}'. The simulator serves: ${known.join(', ')}.`),
  invalidSubscription: (sub: string) => e(400, ArmCodes.InvalidSubscriptionId, `The provided subscription identifier '${shown(sub, 64)}' is malformed or invalid.`),
  invalidResourceGroup: (rg: string) =>
    e(400, ArmCodes.InvalidResourceGroupName, `Resource group '${shown(rg, 100)}' is invalid: 1-90 characters of letters, digits, underscores, hyphens, periods and parentheses, not ending in a period.`),
  invalidName: (message: string) => e(400, ArmCodes.InvalidResourceName, message),
  invalidContent: (message: string) => e(400, ArmCodes.InvalidRequestContent, message),
  invalidParameter: (message: string) => e(400, ArmCodes.InvalidParameter, message),
  propertyChange: (message: string) => e(400, ArmCodes.PropertyChangeNotAllowed, message),
  invalidLocation: (name: string, have: string, rg: string, given: string) =>
    e(
      400,
      ArmCodes.InvalidResourceLocation,
      `The resource '${shown(name, 90)}' already exists in location '${have}' in resource group '${shown(rg, 90)}'. A resource with the same name cannot be created in location '${shown(given, 40)}'. Please select a new resource name.`,
    ),
  locationNotAvailable: (given: string, type: string, available: readonly string[]) =>
    e(
      400,
      ArmCodes.LocationNotAvailableForResourceType,
      `The provided location '${shown(given, 40)}' is not available for resource type '${type}'. List of available regions for the resource type is '${available.join(',')}'.`,
    ),
  deletedNameTaken: (name: string, location: string) =>
    e(
      409,
      ArmCodes.Conflict,
      `A managed HSM with the same name '${shown(name, 40)}' already exists in deleted state (location '${location}'). You need to either recover or purge the existing managed HSM (createMode 'recover', or POST .../locations/${location}/deletedManagedHSMs/${shown(name, 40)}/purge).`,
    ),
  deletedNotFound: (name: string, location: string) =>
    e(404, ArmCodes.ResourceNotFound, `The Resource 'Microsoft.KeyVault/deletedManagedHSMs/${shown(name, 90)}' under location '${shown(location, 40)}' was not found.`),
  purgeProtected: (name: string, scheduledPurgeDate: string) =>
    e(
      409,
      ArmCodes.InvalidOperation,
      `Operation 'DeletedManagedHsmPurge' is not allowed: purge protection is enabled for the managed HSM '${name}'. It cannot be purged before its retention period ends; the service purges it automatically at ${scheduledPurgeDate}.`,
    ),
  resourceNotFound: (type: string, name: string, rg: string) =>
    e(404, ArmCodes.ResourceNotFound, `The Resource '${type}/${shown(name, 90)}' under resource group '${shown(rg, 90)}' was not found.`),
  notFound: (message: string) => e(404, ArmCodes.NotFound, message),
  conflict: (message: string) => e(409, ArmCodes.Conflict, message),
  operationInProgress: (id: string, state: string) =>
    e(409, ArmCodes.AnotherOperationInProgress, `Another operation is in progress on the resource '${id}' (provisioningState ${state}); retry once it has finished.`),
  ipInUse: (ip: string, other: string) => e(409, ArmCodes.PrivateIPAddressInUse, `The private IP address ${ip} is already used by ${other} in the same subnet.`),
  notZeroized: (name: string) =>
    e(409, ArmCodes.HsmNotZeroized, `The Dedicated HSM '${name}' cannot be deleted before it is zeroized: zeroize it first (for example LunaSH 'hsm changePolicy -policy 12 -value 0' or three failed 'hsm login' attempts), then delete it.`),
  featureNotFound: (ns: string, name: string) =>
    e(404, ArmCodes.FeatureNotFound, `The feature '${shown(name, 64)}' could not be found in the namespace '${shown(ns, 64)}'.`),
  providerNotFound: (ns: string) => e(404, ArmCodes.InvalidResourceNamespace, `The resource namespace '${shown(ns, 64)}' is invalid.`),
  invalidNamespaceFormat: (ns: string) =>
    e(400, ArmCodes.InvalidResourceNamespace, `The resource namespace '${shown(ns, 64)}' is invalid: dot-separated words of letters and digits, such as Microsoft.Network.`),
  methodNotAllowed: (method: string, path: string) => e(405, ArmCodes.MethodNotAllowed, `The HTTP method '${shown(method, 10)}' is not supported on '${shown(path, 200)}'.`),
  notSupported: (what: string) => e(400, ArmCodes.NotSupported, `${what} is not supported by the simulator (see simulator/README.md).`),
};

/** The error object of a failed long-running operation (Azure-AsyncOperation status body). */
export interface OperationError {
  code: string;
  message: string;
}
