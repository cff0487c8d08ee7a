/** Addresses of pages inside the app (names keep their '/', everything else is escaped). */
export function repositoryLink(name: string): string {
  return `/repositories/${name.split('/').map(encodeURIComponent).join('/')}`;
}

export function imageLink(name: string, reference: string): string {
  return `${repositoryLink(name)}/-/manifests/${encodeURIComponent(reference)}`;
}
