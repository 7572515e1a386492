import { RequestContext, Reply } from '../http/server';
import { armErrors } from './errors';
import { FEATURES_API_VERSIONS, PROVIDERS_API_VERSIONS, RegistrationService } from './registrations';
import { checkSubscription } from './validate';

type Handler = (ctx: RequestContext, p: Record<string, string>) => Promise<Reply> | Reply;
type ApiVersionCheck = (ctx: RequestContext, supported: readonly string[], type: string) => string;

/**
 * Routes of Microsoft.Features (preview feature registrations, what @azure/arm-features' FeatureClient and
 * `az feature` call) and of Microsoft.Resources' providers collection (`az provider`, @azure/arm-resources'
 * providers). Listed before the resource routes: `/providers/{ns}/register` would otherwise read as a resource
 * type named "register".
 */
export function registrationRoutes(reg: RegistrationService, checkApiVersion: ApiVersionCheck): Array<[string, Handler]> {
  const features = (ctx: RequestContext, method: 'GET' | 'POST') => {
    checkApiVersion(ctx, FEATURES_API_VERSIONS, 'Microsoft.Features/features');
    if (ctx.method !== method) throw armErrors.methodNotAllowed(ctx.method, ctx.path);
  };
  const providers = (ctx: RequestContext, method: 'GET' | 'POST') => {
    checkApiVersion(ctx, PROVIDERS_API_VERSIONS, 'Microsoft.Resources/providers');
    if (ctx.method !== method) throw armErrors.methodNotAllowed(ctx.method, ctx.path);
  };
  return [
    [
      '/subscriptions/:sub/providers/Microsoft.Features/features',
      (ctx, p) => {
        features(ctx, 'GET');
        return { status: 200, body: { value: reg.listFeatures(checkSubscription(p.sub)) } };
      },
    ],
    [
      '/subscriptions/:sub/providers/Microsoft.Features/providers/:ns/features',
      (ctx, p) => {
        features(ctx, 'GET');
        return { status: 200, body: { value: reg.listFeatures(checkSubscription(p.sub), p.ns) } };
      },
    ],
    [
      '/subscriptions/:sub/providers/Microsoft.Features/providers/:ns/features/:name',
      (ctx, p) => {
        features(ctx, 'GET');
        return { status: 200, body: reg.getFeature(checkSubscription(p.sub), p.ns, p.name) };
      },
    ],
    [
      '/subscriptions/:sub/providers/Microsoft.Features/providers/:ns/features/:name/register',
      async (ctx, p) => {
        features(ctx, 'POST');
        return { status: 200, body: await reg.registerFeature(checkSubscription(p.sub), p.ns, p.name, true) };
      },
    ],
    [
      '/subscriptions/:sub/providers/Microsoft.Features/providers/:ns/features/:name/unregister',
      async (ctx, p) => {
        features(ctx, 'POST');
        return { status: 200, body: await reg.registerFeature(checkSubscription(p.sub), p.ns, p.name, false) };
      },
    ],
    [
      '/subscriptions/:sub/providers',
      (ctx, p) => {
        providers(ctx, 'GET');
        return { status: 200, body: { value: reg.listProviders(checkSubscription(p.sub)) } };
      },
    ],
    [
      '/subscriptions/:sub/providers/:ns',
      (ctx, p) => {
        providers(ctx, 'GET');
        return { status: 200, body: reg.getProvider(checkSubscription(p.sub), p.ns) };
      },
    ],
    [
      '/subscriptions/:sub/providers/:ns/register',
      async (ctx, p) => {
        providers(ctx, 'POST');
        return { status: 200, body: await reg.registerProvider(checkSubscription(p.sub), p.ns, true) };
      },
    ],
    [
      '/subscriptions/:sub/providers/:ns/unregister',
      async (ctx, p) => {
        providers(ctx, 'POST');
        return { status: 200, body: await reg.registerProvider(checkSubscription(p.sub), p.ns, false) };
      },
    ],
  ];
}
