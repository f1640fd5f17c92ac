/**
 * SDK: what every served-CNN client shares (`RemoteCnn`, `RemotePackedCnn`) — the HE context, the
 * key set made here (the secret key never leaves this object) and the client registered on the
 * service with its public part: register once, require registration before use, delete the client,
 * free the keys and the context. Browser-capable.
 */
import type { HeContext } from '../he/context.ts';
import type { KeySet } from '../he/keys.ts';
import { BlindDxError } from '../protocol/errors.ts';
import type { BlindDxClient } from './http-client.ts';

export abstract class RemoteSession {
  readonly http: BlindDxClient;
  readonly modelId: string;
  readonly classes: readonly string[];
  readonly ctx: HeContext;
  #keys: KeySet | undefined;
  #clientId: string | undefined;

  protected constructor(http: BlindDxClient, modelId: string, classes: readonly string[], ctx: HeContext) {
    this.http = http;
    this.modelId = modelId;
    this.classes = classes;
    this.ctx = ctx;
  }

  /** The client id once registered. */
  get clientId(): string | undefined {
    return this.#clientId;
  }

  /**
   * Registers the public part of the keys `make` returns (called only when not yet registered);
   * when the service refuses, keys this object `owns` are freed again.
   */
  protected async registerKeys(
    make: () => KeySet,
    owns: boolean,
  ): Promise<{ clientId: string; bytes: number }> {
    if (this.#clientId !== undefined)
      throw new BlindDxError('BAD_REQUEST', `register: already registered as ${this.#clientId}`);
    const k = make();
    try {
      const r = await this.http.register(this.modelId, k.exportPublic());
      this.#keys = k;
      this.#clientId = r.clientId;
      return { clientId: r.clientId, bytes: r.bytes };
    } catch (e) {
      if (owns) k[Symbol.dispose]();
      throw e;
    }
  }

  /** The keys and client id; `BAD_REQUEST` before {@link registerKeys}. */
  protected registered(): { keys: KeySet; clientId: string } {
    if (this.#keys === undefined || this.#clientId === undefined)
      throw new BlindDxError('BAD_REQUEST', `classify: model ${this.modelId}: call register() first`);
    return { keys: this.#keys, clientId: this.#clientId };
  }

  /** Deletes the client (and its key material) on the service. */
  async unregister(): Promise<void> {
    const id = this.#clientId;
    if (id === undefined) return;
    await this.http.deleteClient(id);
    this.#clientId = undefined;
  }

  /** Frees the keys and the context (the secret key is wiped with them). */
  [Symbol.dispose](): void {
    this.#keys?.[Symbol.dispose]();
    this.#keys = undefined;
    this.ctx[Symbol.dispose]();
  }
}
