import { ModelAdminServiceDefinition } from '../../gen/customer_intelligence/admin/v1/model_admin.js';
import { createServiceClient, type ServiceClient, type ServiceClientOptions } from './service-client.js';

export * from '../../gen/customer_intelligence/admin/v1/model_admin.js';

/** A typed ModelAdminService client; `close()` closes its channel. */
export type ModelAdminClient = ServiceClient<typeof ModelAdminServiceDefinition>;

/**
 * Creates a ModelAdminService client (role `admin`). Admin calls change state, so they are not retried
 * by default, and get a 30 s deadline: promoting loads and warms the version first.
 */
export function createModelAdminClient(
  address: string,
  options: ServiceClientOptions = {},
): ModelAdminClient {
  return createServiceClient(ModelAdminServiceDefinition, address, {
    retry: false,
    deadlineMs: 30_000,
    ...options,
  });
}
