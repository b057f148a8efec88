/** lading's version, replaced at build time by the bundler; the source run reads package.json's. */
declare const __LADING_VERSION__: string | undefined;

export const LADING_VERSION: string = typeof __LADING_VERSION__ === 'string' ? __LADING_VERSION__ : '0.1.0-dev';
